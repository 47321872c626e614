"""FlowRunService through a real server: creation, orchestration, listing and watching."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import timestamp_pb2

from runplane.server import RunplaneServer
from runplane.server.db.tables import deployment, flow_run
from runplane.v1 import (
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2,
    flows_pb2_grpc,
    states_pb2,
)

pytestmark = pytest.mark.anyio

Status = states_pb2.OrchestrationStatus
T = states_pb2.StateType


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def state(state_type: int, name: str = "", **details: object) -> states_pb2.State:
    return states_pb2.State(
        type=state_type,  # type: ignore[arg-type]
        name=name,
        details=states_pb2.StateDetails(**details),  # type: ignore[arg-type]
    )


def at(value: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


@dataclass
class Api:
    server: RunplaneServer
    flows: flows_pb2_grpc.FlowServiceStub
    runs: flow_runs_pb2_grpc.FlowRunServiceStub

    async def flow(self) -> str:
        response = await self.flows.CreateFlow(flows_pb2.CreateFlowRequest(name=unique("flow")))
        return response.flow.id

    async def create(self, **fields: object) -> flow_runs_pb2.FlowRun:
        if "flow_id" not in fields:
            fields["flow_id"] = await self.flow()
        request = flow_runs_pb2.CreateFlowRunRequest(**fields)  # type: ignore[arg-type]
        return (await self.runs.CreateFlowRun(request)).flow_run

    async def propose(
        self, run_id: str, proposed: states_pb2.State, **fields: object
    ) -> states_pb2.OrchestrationResult:
        fields.setdefault("transition_id", str(uuid.uuid4()))
        request = flow_runs_pb2.SetFlowRunStateRequest(
            flow_run_id=run_id,
            state=proposed,
            **fields,  # type: ignore[arg-type]
        )
        return (await self.runs.SetFlowRunState(request)).result

    async def get(self, run_id: str) -> flow_runs_pb2.FlowRun:
        request = flow_runs_pb2.GetFlowRunRequest(flow_run_id=run_id)
        return (await self.runs.GetFlowRun(request)).flow_run

    async def states(self, run_id: str) -> list[states_pb2.State]:
        request = flow_runs_pb2.ListFlowRunStatesRequest(flow_run_id=run_id)
        return list((await self.runs.ListFlowRunStates(request)).states)


@pytest.fixture
async def api(server: RunplaneServer) -> AsyncIterator[Api]:
    async with grpc.aio.insecure_channel(server.address) as channel:
        yield Api(
            server,
            flows_pb2_grpc.FlowServiceStub(channel),
            flow_runs_pb2_grpc.FlowRunServiceStub(channel),
        )


async def expect_error(call: object, code: grpc.StatusCode, text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    assert text in (caught.value.details() or "")


async def test_create_defaults_to_pending_with_a_generated_name(api: Api) -> None:
    flows = await api.flows.CreateFlow(flows_pb2.CreateFlowRequest(name=unique("etl")))
    response = await api.runs.CreateFlowRun(
        flow_runs_pb2.CreateFlowRunRequest(
            flow_id=flows.flow.id,
            tags=["x"],
            parameters_json='{"n": 3}',
            retry_policy=states_pb2.RetryPolicy(retries=2, retry_delay_seconds=[1.5]),
        )
    )
    run = response.flow_run
    assert response.created
    assert run.state.type == T.STATE_TYPE_PENDING
    assert run.state.name == "Pending"
    assert run.name.startswith(f"{flows.flow.name}-")
    assert run.flow_name == flows.flow.name
    assert json.loads(run.parameters_json) == {"n": 3}
    assert run.retry_policy.retries == 2
    assert list(run.retry_policy.retry_delay_seconds) == [1.5]
    fetched = await api.get(run.id)
    assert fetched == run
    assert [s.type for s in await api.states(run.id)] == [T.STATE_TYPE_PENDING]


async def test_create_with_an_idempotency_key_returns_the_first_run(api: Api) -> None:
    flow_id = await api.flow()
    request = flow_runs_pb2.CreateFlowRunRequest(flow_id=flow_id, idempotency_key="nightly-1")
    first = await api.runs.CreateFlowRun(request)
    again = await api.runs.CreateFlowRun(request)
    assert first.created
    assert not again.created
    assert again.flow_run.id == first.flow_run.id
    assert again.flow_run.idempotency_key == "nightly-1"
    assert len(await api.states(first.flow_run.id)) == 1


async def test_create_with_a_chosen_id_refuses_a_duplicate(api: Api) -> None:
    run_id = str(uuid.uuid4())
    run = await api.create(flow_run_id=run_id, name="chosen")
    assert run.id == run_id
    assert run.name == "chosen"
    await expect_error(
        api.runs.CreateFlowRun(
            flow_runs_pb2.CreateFlowRunRequest(flow_id=run.flow_id, flow_run_id=run_id)
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        run_id,
    )


async def test_create_scheduled_sets_the_scheduled_times(api: Api) -> None:
    due = datetime.now(UTC) + timedelta(hours=1)
    run = await api.create(state=state(T.STATE_TYPE_SCHEDULED, scheduled_time=at(due)))
    assert run.state.type == T.STATE_TYPE_SCHEDULED
    assert run.state.details.scheduled_time == at(due)
    assert run.next_scheduled_start_time == at(due)
    assert run.expected_start_time == at(due)


async def test_an_ad_hoc_run_may_be_created_running(api: Api) -> None:
    run = await api.create(state=state(T.STATE_TYPE_RUNNING))
    assert run.state.type == T.STATE_TYPE_RUNNING
    assert run.run_count == 1
    assert run.HasField("start_time")
    completed = await api.propose(run.id, state(T.STATE_TYPE_COMPLETED))
    assert completed.status == states_pb2.ORCHESTRATION_STATUS_ACCEPT
    stored = await api.get(run.id)
    assert stored.HasField("end_time")
    assert [s.type for s in await api.states(run.id)] == [
        T.STATE_TYPE_RUNNING,
        T.STATE_TYPE_COMPLETED,
    ]


async def test_create_refuses_bad_input(api: Api) -> None:
    flow_id = await api.flow()
    create = api.runs.CreateFlowRun
    request = flow_runs_pb2.CreateFlowRunRequest
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    await expect_error(create(request()), invalid, "flow_id")
    await expect_error(create(request(flow_id="nope")), invalid, "flow_id")
    await expect_error(
        create(request(flow_id=str(uuid.uuid4()))), grpc.StatusCode.NOT_FOUND, "flow"
    )
    await expect_error(
        create(request(flow_id=flow_id, state=state(T.STATE_TYPE_COMPLETED))), invalid, "state.type"
    )
    await expect_error(create(request(flow_id=flow_id, state=state(99))), invalid, "state.type")
    await expect_error(create(request(flow_id=flow_id, tags=[""])), invalid, "tags[0]")
    await expect_error(create(request(flow_id=flow_id, flow_run_id="x")), invalid, "flow_run_id")
    await expect_error(
        create(request(flow_id=flow_id, retry_policy=states_pb2.RetryPolicy(retries=-1))),
        invalid,
        "retry_policy.retries",
    )
    await expect_error(
        create(request(flow_id=flow_id, deployment_id=str(uuid.uuid4()))),
        grpc.StatusCode.NOT_FOUND,
        "deployment",
    )
    bad_time = states_pb2.State(
        type=T.STATE_TYPE_SCHEDULED,
        details=states_pb2.StateDetails(scheduled_time=timestamp_pb2.Timestamp(nanos=-1)),
    )
    await expect_error(
        create(request(flow_id=flow_id, state=bad_time)), invalid, "state.details.scheduled_time"
    )


async def test_a_run_goes_pending_running_completed_with_bookkeeping(api: Api) -> None:
    run = await api.create()
    running = await api.propose(run.id, state(T.STATE_TYPE_RUNNING))
    assert running.status == Status.ORCHESTRATION_STATUS_ACCEPT
    assert running.state.type == T.STATE_TYPE_RUNNING
    completed = await api.propose(
        run.id,
        states_pb2.State(
            type=T.STATE_TYPE_COMPLETED,
            result=states_pb2.ResultRef(storage="local-file:/tmp", key="k1", serializer="json"),
        ),
    )
    assert completed.status == Status.ORCHESTRATION_STATUS_ACCEPT
    assert completed.state.result.key == "k1"
    fetched = await api.get(run.id)
    assert fetched.state.type == T.STATE_TYPE_COMPLETED
    assert fetched.state.id == completed.state.id
    assert fetched.run_count == 1
    assert fetched.start_time == running.state.timestamp
    assert fetched.end_time == completed.state.timestamp
    assert fetched.total_run_time.ToTimedelta() == (
        completed.state.timestamp.ToDatetime() - running.state.timestamp.ToDatetime()
    )
    history = await api.states(run.id)
    assert [s.type for s in history] == [
        T.STATE_TYPE_PENDING,
        T.STATE_TYPE_RUNNING,
        T.STATE_TYPE_COMPLETED,
    ]
    stamps = [s.timestamp.ToDatetime() for s in history]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 3
    assert history[2].result.key == "k1"


async def test_the_same_proposal_twice_is_applied_once(api: Api) -> None:
    run = await api.create()
    transition_id = str(uuid.uuid4())
    first = await api.propose(run.id, state(T.STATE_TYPE_RUNNING), transition_id=transition_id)
    again = await api.propose(run.id, state(T.STATE_TYPE_RUNNING), transition_id=transition_id)
    assert first.status == again.status == Status.ORCHESTRATION_STATUS_ACCEPT
    assert again.state == first.state
    assert first.state.details.transition_id == transition_id
    assert len(await api.states(run.id)) == 2
    assert (await api.get(run.id)).run_count == 1


async def test_refused_transitions_answer_with_a_reason(api: Api) -> None:
    run = await api.create()
    await api.propose(run.id, state(T.STATE_TYPE_RUNNING))
    back = await api.propose(run.id, state(T.STATE_TYPE_PENDING))
    assert back.status == Status.ORCHESTRATION_STATUS_ABORT
    assert back.reason
    assert back.state.type == T.STATE_TYPE_RUNNING
    stored = states_pb2.State(
        type=T.STATE_TYPE_COMPLETED, result=states_pb2.ResultRef(storage="s", key="k")
    )
    await api.propose(run.id, stored)
    rerun = await api.propose(run.id, state(T.STATE_TYPE_RUNNING))
    assert rerun.status == Status.ORCHESTRATION_STATUS_ABORT
    assert "only moves by a retry" in rerun.reason
    assert rerun.state.type == T.STATE_TYPE_COMPLETED
    retry = await api.propose(
        run.id, states_pb2.State(type=T.STATE_TYPE_SCHEDULED, name="AwaitingRetry")
    )
    assert retry.status == Status.ORCHESTRATION_STATUS_REJECT
    assert "result" in retry.reason
    assert retry.state.type == T.STATE_TYPE_COMPLETED
    crash = await api.propose(run.id, state(T.STATE_TYPE_CRASHED))
    assert crash.status == Status.ORCHESTRATION_STATUS_ABORT
    assert (await api.get(run.id)).state.type == T.STATE_TYPE_COMPLETED
    forced = await api.propose(run.id, state(T.STATE_TYPE_FAILED), force=True)
    assert forced.status == Status.ORCHESTRATION_STATUS_ABORT
    assert forced.state.type == T.STATE_TYPE_COMPLETED


async def test_a_failed_run_with_retries_left_awaits_a_retry(api: Api) -> None:
    run = await api.create(retry_policy=states_pb2.RetryPolicy(retries=1))
    await api.propose(run.id, state(T.STATE_TYPE_RUNNING))
    failed = states_pb2.State(type=T.STATE_TYPE_FAILED, message="boom")
    retry = await api.propose(run.id, failed)
    assert retry.status == Status.ORCHESTRATION_STATUS_REJECT
    assert retry.state.type == T.STATE_TYPE_SCHEDULED
    assert retry.state.name == "AwaitingRetry"
    assert retry.state.message == "boom"
    again = await api.propose(run.id, state(T.STATE_TYPE_RUNNING))
    assert again.status == Status.ORCHESTRATION_STATUS_ACCEPT
    assert again.state.name == "Retrying"
    final = await api.propose(run.id, failed)
    assert final.status == Status.ORCHESTRATION_STATUS_ACCEPT
    assert final.state.type == T.STATE_TYPE_FAILED
    fetched = await api.get(run.id)
    assert fetched.run_count == 2
    assert fetched.end_time == final.state.timestamp


async def test_running_before_the_scheduled_time_waits(api: Api) -> None:
    due = datetime.now(UTC) + timedelta(hours=1)
    run = await api.create(state=state(T.STATE_TYPE_SCHEDULED, scheduled_time=at(due)))
    pending = await api.propose(run.id, state(T.STATE_TYPE_PENDING))
    assert pending.status == Status.ORCHESTRATION_STATUS_ACCEPT
    assert pending.state.details.scheduled_time == at(due)
    wait = await api.propose(run.id, state(T.STATE_TYPE_RUNNING))
    assert wait.status == Status.ORCHESTRATION_STATUS_WAIT
    assert 3500 < wait.wait.ToTimedelta().total_seconds() <= 3600
    assert wait.state.type == T.STATE_TYPE_PENDING
    assert len(await api.states(run.id)) == 2


async def test_set_state_refuses_bad_input(api: Api) -> None:
    run = await api.create()
    call = api.runs.SetFlowRunState
    request = flow_runs_pb2.SetFlowRunStateRequest
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    running = state(T.STATE_TYPE_RUNNING)
    await expect_error(call(request(state=running)), invalid, "flow_run_id")
    await expect_error(call(request(flow_run_id="1", state=running)), invalid, "flow_run_id")
    await expect_error(call(request(flow_run_id=run.id)), invalid, "state")
    await expect_error(call(request(flow_run_id=run.id, state=state(0))), invalid, "state.type")
    await expect_error(call(request(flow_run_id=run.id, state=state(42))), invalid, "state.type")
    await expect_error(
        call(request(flow_run_id=run.id, state=running, transition_id="t")),
        invalid,
        "transition_id",
    )
    await expect_error(
        call(request(flow_run_id=run.id, state=running, lease_id="l")), invalid, "lease_id"
    )
    await expect_error(
        call(request(flow_run_id=run.id, state=states_pb2.State(type=3, name="n" * 65))),
        invalid,
        "state.name",
    )
    await expect_error(
        call(request(flow_run_id=str(uuid.uuid4()), state=running)),
        grpc.StatusCode.NOT_FOUND,
        "flow run",
    )


async def test_running_an_assigned_run_needs_its_lease(api: Api) -> None:
    run = await api.create()
    lease = uuid.uuid4()
    async with api.server.context.database.write() as conn:
        await conn.execute(
            sa.update(flow_run).where(flow_run.c.id == uuid.UUID(run.id)).values(lease_id=lease)
        )
    without = await api.propose(run.id, state(T.STATE_TYPE_RUNNING))
    assert without.status == Status.ORCHESTRATION_STATUS_ABORT
    foreign = await api.propose(run.id, state(T.STATE_TYPE_RUNNING), lease_id=str(uuid.uuid4()))
    assert foreign.status == Status.ORCHESTRATION_STATUS_ABORT
    held = await api.propose(run.id, state(T.STATE_TYPE_RUNNING), lease_id=str(lease))
    assert held.status == Status.ORCHESTRATION_STATUS_ACCEPT
    assert held.state.details.lease_id == str(lease)
    async with api.server.context.database.read() as conn:
        column = sa.select(flow_run.c.lease_id).where(flow_run.c.id == uuid.UUID(run.id))
        # The lease fences the whole attempt: it stays on the run while it runs.
        assert (await conn.execute(column)).scalar_one() == lease


async def _deployment(api: Api, flow_id: str, limit: int) -> str:
    deployment_id = uuid.uuid4()
    now = datetime.now(UTC)
    row = {
        "id": deployment_id,
        "flow_id": uuid.UUID(flow_id),
        "name": unique("deployment"),
        "entrypoint": "flows.py:main",
        "tags": [],
        "parameters": {},
        "parameter_schema": {},
        "enforce_parameter_schema": False,
        "paused": False,
        "concurrency_limit": limit,
        "collision_strategy": 1,
        "work_pool_name": "pool",
        "work_queue_name": "default",
        "job_variables": {},
        "create_time": now,
        "update_time": now,
    }
    async with api.server.context.database.write() as conn:
        await conn.execute(sa.insert(deployment).values(row))
    return str(deployment_id)


async def test_a_deployment_limit_hands_out_each_slot_once(api: Api) -> None:
    flow_id = await api.flow()
    deployment_id = await _deployment(api, flow_id, limit=1)
    runs = [
        await api.create(
            flow_id=flow_id, deployment_id=deployment_id, state=state(T.STATE_TYPE_SCHEDULED)
        )
        for _ in range(4)
    ]
    results = await asyncio.gather(
        *(api.propose(run.id, state(T.STATE_TYPE_PENDING)) for run in runs)
    )
    accepted = [r for r in results if r.status == Status.ORCHESTRATION_STATUS_ACCEPT]
    waiting = [r for r in results if r.status == Status.ORCHESTRATION_STATUS_REJECT]
    assert len(accepted) == 1
    assert len(waiting) == 3
    assert {r.state.name for r in waiting} == {"AwaitingConcurrencySlot"}
    holder = runs[[r.status for r in results].index(Status.ORCHESTRATION_STATUS_ACCEPT)]
    await api.propose(holder.id, state(T.STATE_TYPE_CANCELLED))
    other = next(run for run in runs if run.id != holder.id)
    freed = await api.propose(other.id, state(T.STATE_TYPE_PENDING))
    assert freed.status == Status.ORCHESTRATION_STATUS_ACCEPT


async def test_list_filters_and_pages_newest_first(api: Api) -> None:
    flow_id = await api.flow()
    tag = unique("tag")
    created = [
        await api.create(flow_id=flow_id, tags=[tag, "common"], work_pool_name="pool-a")
        for _ in range(3)
    ]
    await api.propose(created[0].id, state(T.STATE_TYPE_RUNNING))
    run_filter = flow_runs_pb2.FlowRunFilter(flow_ids=[flow_id])
    first = await api.runs.ListFlowRuns(
        flow_runs_pb2.ListFlowRunsRequest(filter=run_filter, page_size=2)
    )
    assert first.next_page_token
    second = await api.runs.ListFlowRuns(
        flow_runs_pb2.ListFlowRunsRequest(
            filter=run_filter, page_size=2, page_token=first.next_page_token
        )
    )
    assert not second.next_page_token
    listed = [r.id for r in [*first.flow_runs, *second.flow_runs]]
    assert listed == [r.id for r in reversed(created)]

    async def ids(**fields: object) -> set[str]:
        request = flow_runs_pb2.ListFlowRunsRequest(
            filter=flow_runs_pb2.FlowRunFilter(**fields)  # type: ignore[arg-type]
        )
        return {r.id for r in (await api.runs.ListFlowRuns(request)).flow_runs}

    assert await ids(tags=[tag, "common"]) == {r.id for r in created}
    assert await ids(tags=[tag, "absent"]) == set()
    assert await ids(flow_ids=[flow_id], state_types=[T.STATE_TYPE_RUNNING]) == {created[0].id}
    assert await ids(flow_ids=[flow_id], state_names=["Pending"]) == {
        created[1].id,
        created[2].id,
    }
    assert await ids(flow_run_ids=[created[1].id]) == {created[1].id}
    assert await ids(flow_ids=[flow_id], work_pool_name="pool-b") == set()
    soon = at(datetime.now(UTC) + timedelta(minutes=5))
    assert await ids(flow_ids=[flow_id], expected_start_time_before=soon) == {r.id for r in created}
    assert await ids(flow_ids=[flow_id], expected_start_time_after=soon) == set()


async def test_a_list_by_tag_pages_through_every_run_that_carries_it(api: Api) -> None:
    flow_id = await api.flow()
    tag = unique("tag")
    # Created together (one batch) and alone (an idempotency key is never batched).
    together = await asyncio.gather(*(api.create(flow_id=flow_id, tags=[tag]) for _ in range(4)))
    alone = [
        await api.create(flow_id=flow_id, tags=["other", tag], idempotency_key=unique("key"))
        for _ in range(3)
    ]
    await api.create(flow_id=flow_id, tags=["other"])
    deleted = await api.create(flow_id=flow_id, tags=[tag])
    await api.runs.DeleteFlowRun(flow_runs_pb2.DeleteFlowRunRequest(flow_run_id=deleted.id))
    run_filter = flow_runs_pb2.FlowRunFilter(tags=[tag])
    listed: list[flow_runs_pb2.FlowRun] = []
    token = ""
    while True:
        request = flow_runs_pb2.ListFlowRunsRequest(
            filter=run_filter, page_size=3, page_token=token
        )
        page = await api.runs.ListFlowRuns(request)
        listed.extend(page.flow_runs)
        if not (token := page.next_page_token):
            break
    assert {r.id for r in listed} == {r.id for r in [*together, *alone]}
    keys = [(r.create_time.ToDatetime(), r.id) for r in listed]
    assert keys == sorted(keys, reverse=True)
    both = flow_runs_pb2.ListFlowRunsRequest(
        filter=flow_runs_pb2.FlowRunFilter(tags=[tag, "other"])
    )
    assert {r.id for r in (await api.runs.ListFlowRuns(both)).flow_runs} == {r.id for r in alone}


async def test_a_list_by_several_values_pages_through_every_run_of_any(api: Api) -> None:
    flows = [await api.flow() for _ in range(3)]
    created = [await api.create(flow_id=flows[i % 3]) for i in range(9)]
    for run in created[::2]:
        await api.propose(run.id, state(T.STATE_TYPE_RUNNING))

    async def every(run_filter: flow_runs_pb2.FlowRunFilter) -> list[flow_runs_pb2.FlowRun]:
        listed: list[flow_runs_pb2.FlowRun] = []
        token = ""
        while True:
            request = flow_runs_pb2.ListFlowRunsRequest(
                filter=run_filter, page_size=2, page_token=token
            )
            page = await api.runs.ListFlowRuns(request)
            listed.extend(page.flow_runs)
            if not (token := page.next_page_token):
                return listed

    by_flows = await every(flow_runs_pb2.FlowRunFilter(flow_ids=flows[:2]))
    assert [r.id for r in by_flows] == [r.id for r in reversed(created) if r.flow_id in flows[:2]]
    both_states = flow_runs_pb2.FlowRunFilter(
        flow_ids=flows, state_types=[T.STATE_TYPE_RUNNING, T.STATE_TYPE_PENDING]
    )
    assert [r.id for r in await every(both_states)] == [r.id for r in reversed(created)]
    running = flow_runs_pb2.FlowRunFilter(
        flow_ids=flows[1:], state_types=[T.STATE_TYPE_RUNNING, T.STATE_TYPE_FAILED]
    )
    expected = [r.id for r in reversed(created[::2]) if r.flow_id in flows[1:]]
    assert len(expected) == 3
    assert [r.id for r in await every(running)] == expected


async def test_list_refuses_bad_input(api: Api) -> None:
    call = api.runs.ListFlowRuns
    request = flow_runs_pb2.ListFlowRunsRequest
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    await expect_error(call(request(page_size=-1)), invalid, "page_size")
    await expect_error(call(request(page_token="garbage")), invalid, "page_token")
    flow_filter = flow_runs_pb2.FlowRunFilter
    await expect_error(
        call(request(filter=flow_filter(flow_ids=["x"]))), invalid, "filter.flow_ids[0]"
    )
    await expect_error(
        call(request(filter=flow_filter(state_types=[77]))), invalid, "filter.state_types[0]"
    )
    page = await call(request(page_size=1))
    if page.next_page_token:
        other = flow_filter(tags=["t"])
        await expect_error(
            call(request(filter=other, page_token=page.next_page_token)), invalid, "page_token"
        )


async def test_list_states_pages_oldest_first(api: Api) -> None:
    run = await api.create()
    await api.propose(run.id, state(T.STATE_TYPE_RUNNING))
    await api.propose(run.id, state(T.STATE_TYPE_COMPLETED))
    call = api.runs.ListFlowRunStates
    request = flow_runs_pb2.ListFlowRunStatesRequest
    first = await call(request(flow_run_id=run.id, page_size=2))
    second = await call(request(flow_run_id=run.id, page_size=2, page_token=first.next_page_token))
    types = [s.type for s in [*first.states, *second.states]]
    assert types == [T.STATE_TYPE_PENDING, T.STATE_TYPE_RUNNING, T.STATE_TYPE_COMPLETED]
    assert not second.next_page_token
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    await expect_error(call(request(flow_run_id="x")), invalid, "flow_run_id")
    await expect_error(call(request(flow_run_id=run.id, page_size=-5)), invalid, "page_size")
    await expect_error(call(request(flow_run_id=run.id, page_token="%%")), invalid, "page_token")
    await expect_error(
        call(request(flow_run_id=str(uuid.uuid4()))), grpc.StatusCode.NOT_FOUND, "flow run"
    )


async def test_delete_removes_the_run(api: Api) -> None:
    run = await api.create()
    await api.runs.DeleteFlowRun(flow_runs_pb2.DeleteFlowRunRequest(flow_run_id=run.id))
    await expect_error(api.get(run.id), grpc.StatusCode.NOT_FOUND, run.id)
    await expect_error(
        api.runs.DeleteFlowRun(flow_runs_pb2.DeleteFlowRunRequest(flow_run_id=run.id)),
        grpc.StatusCode.NOT_FOUND,
        run.id,
    )
    await expect_error(
        api.runs.DeleteFlowRun(flow_runs_pb2.DeleteFlowRunRequest(flow_run_id="")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "flow_run_id",
    )
    await expect_error(api.get("zzz"), grpc.StatusCode.INVALID_ARGUMENT, "flow_run_id")


async def test_watch_sends_current_runs_then_changes(api: Api) -> None:
    flow_id = await api.flow()
    existing = await api.create(flow_id=flow_id)
    request = flow_runs_pb2.WatchFlowRunsRequest(
        filter=flow_runs_pb2.FlowRunFilter(flow_ids=[flow_id]), include_current=True
    )
    stream = api.runs.WatchFlowRuns(request)
    current = await asyncio.wait_for(stream.read(), timeout=5)
    assert current.flow_run.id == existing.id
    assert current.state.type == T.STATE_TYPE_PENDING
    await api.create()  # another flow: filtered out
    created = await api.create(flow_id=flow_id)
    event = await asyncio.wait_for(stream.read(), timeout=5)
    assert event.flow_run.id == created.id
    assert event.state.type == T.STATE_TYPE_PENDING
    running = await api.propose(created.id, state(T.STATE_TYPE_RUNNING))
    event = await asyncio.wait_for(stream.read(), timeout=5)
    assert event.state == running.state
    assert event.flow_run.run_count == 1
    stream.cancel()


async def test_watch_refuses_a_bad_filter(api: Api) -> None:
    request = flow_runs_pb2.WatchFlowRunsRequest(
        filter=flow_runs_pb2.FlowRunFilter(deployment_ids=["bad"])
    )
    stream = api.runs.WatchFlowRuns(request)
    await expect_error(stream.read(), grpc.StatusCode.INVALID_ARGUMENT, "filter.deployment_ids")


async def test_watch_ends_when_the_server_stops(api: Api) -> None:
    run = await api.create()
    request = flow_runs_pb2.WatchFlowRunsRequest(
        filter=flow_runs_pb2.FlowRunFilter(flow_run_ids=[run.id]), include_current=True
    )
    stream = api.runs.WatchFlowRuns(request)
    # The current state arrives after the stream subscribed to changes.
    assert (await asyncio.wait_for(stream.read(), timeout=5)).flow_run.id == run.id
    await api.server.stop(grace=1)
    assert await asyncio.wait_for(stream.read(), timeout=5) is grpc.aio.EOF
