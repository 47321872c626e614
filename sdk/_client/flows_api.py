"""Client methods for flows and flow runs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import Any
from uuid import UUID

from runplane._client import convert
from runplane._client.models import (
    Flow,
    FlowRun,
    FlowRunChange,
    FlowRunFilter,
    OrchestrationResult,
    Page,
    RetryPolicy,
    State,
)
from runplane._client.transport import Transport
from runplane.v1 import flow_runs_pb2, flows_pb2


class FlowsAPI(Transport):
    """Flows: registered by name."""

    async def create_flow(self, name: str, *, tags: Iterable[str] = ()) -> Flow:
        """Returns the flow with this name, registering it when it does not exist."""
        request = flows_pb2.CreateFlowRequest(name=name, tags=tags)
        response = await self._unary(self.stubs.flows.CreateFlow, request)
        return convert.flow_from_pb(response.flow)

    async def get_flow(self, flow_id: UUID) -> Flow:
        request = flows_pb2.GetFlowRequest(flow_id=str(flow_id))
        response = await self._unary(self.stubs.flows.GetFlow, request)
        return convert.flow_from_pb(response.flow)

    async def get_flow_by_name(self, name: str) -> Flow:
        request = flows_pb2.GetFlowRequest(name=name)
        response = await self._unary(self.stubs.flows.GetFlow, request)
        return convert.flow_from_pb(response.flow)

    async def list_flows(
        self, *, name_prefix: str = "", page_size: int = 0, page_token: str | None = None
    ) -> Page[Flow]:
        """Flows ordered by name; ``page_size`` 0 means the server's default (50)."""
        request = flows_pb2.ListFlowsRequest(
            name_prefix=name_prefix, page_size=page_size, page_token=page_token or ""
        )
        response = await self._unary(self.stubs.flows.ListFlows, request)
        items = [convert.flow_from_pb(flow) for flow in response.flows]
        return Page(items, response.next_page_token or None)

    async def delete_flow(self, flow_id: UUID) -> None:
        """Deletes a flow with its runs and deployments."""
        request = flows_pb2.DeleteFlowRequest(flow_id=str(flow_id))
        await self._unary(self.stubs.flows.DeleteFlow, request)


class FlowRunsAPI(Transport):
    """Flow runs: creation, reads, state proposals and watching."""

    async def create_flow_run(
        self,
        flow_id: UUID,
        *,
        name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
        state: State | None = None,
        deployment_id: UUID | None = None,
        parent_task_run_id: UUID | None = None,
        idempotency_key: str | None = None,
        retry_policy: RetryPolicy | None = None,
        job_variables: Mapping[str, Any] | None = None,
        work_pool_name: str | None = None,
        work_queue_name: str | None = None,
        flow_version: str | None = None,
        flow_run_id: UUID | None = None,
        expect_heartbeats: bool = False,
    ) -> FlowRun:
        """Creates a flow run (PENDING unless ``state`` says SCHEDULED).

        With an ``idempotency_key`` a repeated call returns the run created first.
        ``expect_heartbeats`` promises heartbeats while the run runs: the server then marks it
        CRASHED when they stop for its heartbeat timeout, counting from the creation.
        """
        request = flow_runs_pb2.CreateFlowRunRequest(
            flow_id=str(flow_id),
            name=name or "",
            parameters_json=convert.json_object_to_pb(parameters, "parameters_json"),
            tags=tags,
            state=None if state is None else convert.state_to_pb(state),
            deployment_id="" if deployment_id is None else str(deployment_id),
            parent_task_run_id="" if parent_task_run_id is None else str(parent_task_run_id),
            idempotency_key=idempotency_key or "",
            retry_policy=convert.retry_policy_to_pb(retry_policy),
            job_variables_json=convert.json_object_to_pb(job_variables, "job_variables_json"),
            work_pool_name=work_pool_name or "",
            work_queue_name=work_queue_name or "",
            flow_version=flow_version or "",
            flow_run_id="" if flow_run_id is None else str(flow_run_id),
            expect_heartbeats=expect_heartbeats,
        )
        response = await self._unary(self.stubs.flow_runs.CreateFlowRun, request)
        return convert.flow_run_from_pb(response.flow_run)

    async def get_flow_run(self, flow_run_id: UUID) -> FlowRun:
        request = flow_runs_pb2.GetFlowRunRequest(flow_run_id=str(flow_run_id))
        response = await self._unary(self.stubs.flow_runs.GetFlowRun, request)
        return convert.flow_run_from_pb(response.flow_run)

    async def list_flow_runs(
        self,
        filter: FlowRunFilter | None = None,
        *,
        page_size: int = 0,
        page_token: str | None = None,
    ) -> Page[FlowRun]:
        """Flow runs matching ``filter``, newest first."""
        request = flow_runs_pb2.ListFlowRunsRequest(
            filter=None if filter is None else convert.flow_run_filter_to_pb(filter),
            page_size=page_size,
            page_token=page_token or "",
        )
        response = await self._unary(self.stubs.flow_runs.ListFlowRuns, request)
        items = [convert.flow_run_from_pb(run) for run in response.flow_runs]
        return Page(items, response.next_page_token or None)

    async def delete_flow_run(self, flow_run_id: UUID) -> None:
        """Deletes a flow run with its states, task runs and logs."""
        request = flow_runs_pb2.DeleteFlowRunRequest(flow_run_id=str(flow_run_id))
        await self._unary(self.stubs.flow_runs.DeleteFlowRun, request)

    async def set_flow_run_state(
        self,
        flow_run_id: UUID,
        state: State,
        *,
        force: bool = False,
        transition_id: UUID | None = None,
        lease_id: UUID | None = None,
    ) -> OrchestrationResult:
        """Proposes a state; the result holds the server's decision and the current state.

        ``transition_id`` (a new UUID when not given) makes a retried proposal apply once.
        """
        request = flow_runs_pb2.SetFlowRunStateRequest(
            flow_run_id=str(flow_run_id),
            state=convert.state_to_pb(state),
            force=force,
            transition_id=str(transition_id or uuid.uuid4()),
            lease_id="" if lease_id is None else str(lease_id),
        )
        response = await self._unary(self.stubs.flow_runs.SetFlowRunState, request)
        return convert.orchestration_result_from_pb(response.result)

    async def list_flow_run_states(
        self, flow_run_id: UUID, *, page_size: int = 0, page_token: str | None = None
    ) -> Page[State]:
        """A flow run's state history, oldest first."""
        request = flow_runs_pb2.ListFlowRunStatesRequest(
            flow_run_id=str(flow_run_id), page_size=page_size, page_token=page_token or ""
        )
        response = await self._unary(self.stubs.flow_runs.ListFlowRunStates, request)
        items = [convert.state_from_pb(state) for state in response.states]
        return Page(items, response.next_page_token or None)

    def watch_flow_runs(
        self, filter: FlowRunFilter | None = None, *, include_current: bool = False
    ) -> AsyncGenerator[FlowRunChange, None]:
        """Yields each state change of the matching runs as it happens, until closed.

        ``include_current`` first yields every matching run's current state, so that no
        change is missed between a read and the watch.
        """
        request = flow_runs_pb2.WatchFlowRunsRequest(
            filter=None if filter is None else convert.flow_run_filter_to_pb(filter),
            include_current=include_current,
        )
        return self._stream(
            self.stubs.flow_runs.WatchFlowRuns, request, convert.flow_run_change_from_pb
        )
