"""Client methods for task runs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Iterable, Sequence
from uuid import UUID

from runplane._client import convert
from runplane._client.models import (
    CachedState,
    OrchestrationResult,
    Page,
    State,
    TaskHeartbeatResult,
    TaskRun,
    TaskRunFilter,
    TaskRunSpec,
    TaskRunUpdate,
    TaskWorkerItem,
)
from runplane._client.transport import Transport
from runplane.v1 import task_runs_pb2


class TaskRunsAPI(Transport):
    """Task runs: server-orchestrated calls and batched reports of client-orchestrated ones."""

    async def create_task_run(self, spec: TaskRunSpec, *, state: State | None = None) -> TaskRun:
        """Creates a task run (PENDING unless ``state`` is given), or returns the existing one
        with the same flow run, task key and dynamic key."""
        request = task_runs_pb2.CreateTaskRunRequest(
            spec=convert.task_run_spec_to_pb(spec),
            state=None if state is None else convert.state_to_pb(state),
        )
        response = await self._unary(self.stubs.task_runs.CreateTaskRun, request)
        return convert.task_run_from_pb(response.task_run)

    async def get_task_run(self, task_run_id: UUID) -> TaskRun:
        request = task_runs_pb2.GetTaskRunRequest(task_run_id=str(task_run_id))
        response = await self._unary(self.stubs.task_runs.GetTaskRun, request)
        return convert.task_run_from_pb(response.task_run)

    async def list_task_runs(
        self,
        filter: TaskRunFilter | None = None,
        *,
        page_size: int = 0,
        page_token: str | None = None,
    ) -> Page[TaskRun]:
        """Task runs matching ``filter``, oldest first."""
        request = task_runs_pb2.ListTaskRunsRequest(
            filter=None if filter is None else convert.task_run_filter_to_pb(filter),
            page_size=page_size,
            page_token=page_token or "",
        )
        response = await self._unary(self.stubs.task_runs.ListTaskRuns, request)
        items = [convert.task_run_from_pb(run) for run in response.task_runs]
        return Page(items, response.next_page_token or None)

    async def set_task_run_state(
        self,
        task_run_id: UUID,
        state: State,
        *,
        force: bool = False,
        transition_id: UUID | None = None,
        lease_id: UUID | None = None,
    ) -> OrchestrationResult:
        """Proposes a state for a task run, orchestrated by the server.

        ``transition_id`` (a new UUID when not given) makes a retried proposal apply once.
        ``lease_id`` is the lease a task worker was handed a background run under.
        """
        request = task_runs_pb2.SetTaskRunStateRequest(
            task_run_id=str(task_run_id),
            state=convert.state_to_pb(state),
            force=force,
            transition_id=str(transition_id or uuid.uuid4()),
            lease_id=str(lease_id) if lease_id else "",
        )
        response = await self._unary(self.stubs.task_runs.SetTaskRunState, request)
        return convert.orchestration_result_from_pb(response.result)

    async def list_task_run_states(
        self, task_run_id: UUID, *, page_size: int = 0, page_token: str | None = None
    ) -> Page[State]:
        """A task run's state history, oldest first."""
        request = task_runs_pb2.ListTaskRunStatesRequest(
            task_run_id=str(task_run_id), page_size=page_size, page_token=page_token or ""
        )
        response = await self._unary(self.stubs.task_runs.ListTaskRunStates, request)
        items = [convert.state_from_pb(state) for state in response.states]
        return Page(items, response.next_page_token or None)

    async def report_task_runs(self, flow_run_id: UUID, updates: Sequence[TaskRunUpdate]) -> int:
        """Records client-orchestrated task run changes in sequence order, each once.

        Returns the highest sequence number the server has recorded.
        """
        request = task_runs_pb2.ReportTaskRunsRequest(
            flow_run_id=str(flow_run_id),
            updates=[convert.task_run_update_to_pb(update) for update in updates],
        )
        response = await self._unary(self.stubs.task_runs.ReportTaskRuns, request)
        return response.acknowledged_through

    async def lookup_cached_state(self, cache_key: str) -> CachedState | None:
        """The newest unexpired COMPLETED state stored under ``cache_key``, if any."""
        request = task_runs_pb2.LookupCachedStateRequest(cache_key=cache_key)
        response = await self._unary(self.stubs.task_runs.LookupCachedState, request)
        return convert.cached_state_from_pb(response)

    def subscribe_task_runs(
        self, task_keys: Iterable[str], *, worker_name: str, free_slots: int
    ) -> AsyncGenerator[TaskWorkerItem, None]:
        """Yields a task worker's stream: first ``TaskWorkerStarted``, then the background
        runs of ``task_keys`` handed to it (at most ``free_slots`` held at once), pings and,
        eventually, a ``Reconnect`` asking to subscribe again."""
        request = task_runs_pb2.SubscribeTaskRunsRequest(
            task_keys=list(task_keys), worker_name=worker_name, free_slots=free_slots
        )
        return self._stream(
            self.stubs.task_runs.SubscribeTaskRuns, request, convert.task_worker_item_from_pb
        )

    async def heartbeat_task_runs(
        self, worker_id: UUID, running_task_run_ids: Iterable[UUID]
    ) -> TaskHeartbeatResult:
        """Extends the leases of a task worker's runs; answers those it no longer holds."""
        request = task_runs_pb2.HeartbeatTaskRunsRequest(
            worker_id=str(worker_id),
            running_task_run_ids=[str(run_id) for run_id in running_task_run_ids],
        )
        response = await self._unary(self.stubs.task_runs.HeartbeatTaskRuns, request)
        return convert.task_heartbeat_from_pb(response)

    def watch_task_run(self, task_run_id: UUID) -> AsyncGenerator[TaskRun, None]:
        """Yields the task run as it is now, then at every change, until it is final."""
        request = task_runs_pb2.WatchTaskRunRequest(task_run_id=str(task_run_id))
        return self._stream(
            self.stubs.task_runs.WatchTaskRun,
            request,
            lambda response: convert.task_run_from_pb(response.task_run),
        )
