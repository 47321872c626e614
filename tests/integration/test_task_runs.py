"""TaskRunService through a real server: creation, orchestration, batched reports, caching."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2

from runplane.server import RunplaneServer
from runplane.v1 import (
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2,
    flows_pb2_grpc,
    states_pb2,
    task_runs_pb2,
    task_runs_pb2_grpc,
)

pytestmark = pytest.mark.anyio

Status = states_pb2.OrchestrationStatus
T = states_pb2.StateType
Update = task_runs_pb2.TaskRunUpdate
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def at(value: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def completed(cache_key: str = "", expires: datetime | None = None) -> states_pb2.State:
    details = states_pb2.StateDetails(cache_key=cache_key)
    if expires is not None:
        details.cache_expiration.CopyFrom(at(expires))
    return states_pb2.State(
        type=T.STATE_TYPE_COMPLETED,
        result=states_pb2.ResultRef(storage="local-file:/r", key=uuid.uuid4().hex),
        details=details,
    )


@dataclass
class Api:
    tasks: task_runs_pb2_grpc.TaskRunServiceStub
    flow_runs: flow_runs_pb2_grpc.FlowRunServiceStub
    flows: flows_pb2_grpc.FlowServiceStub

    async def flow_run(self) -> str:
        flow = await self.flows.CreateFlow(flows_pb2.CreateFlowRequest(name=unique("flow")))
        request = flow_runs_pb2.CreateFlowRunRequest(flow_id=flow.flow.id)
        return (await self.flow_runs.CreateFlowRun(request)).flow_run.id

    async def create(self, flow_run_id: str, **fields: object) -> task_runs_pb2.TaskRun:
        fields.setdefault("task_key", unique("task"))
        spec = task_runs_pb2.TaskRunSpec(flow_run_id=flow_run_id, **fields)  # type: ignore[arg-type]
        response = await self.tasks.CreateTaskRun(task_runs_pb2.CreateTaskRunRequest(spec=spec))
        return response.task_run

    async def propose(
        self, task_run_id: str, proposed: states_pb2.State, **fields: object
    ) -> states_pb2.OrchestrationResult:
        fields.setdefault("transition_id", str(uuid.uuid4()))
        request = task_runs_pb2.SetTaskRunStateRequest(
            task_run_id=task_run_id,
            state=proposed,
            **fields,  # type: ignore[arg-type]
        )
        return (await self.tasks.SetTaskRunState(request)).result

    async def report(self, flow_run_id: str, updates: list[Update]) -> int:
        request = task_runs_pb2.ReportTaskRunsRequest(flow_run_id=flow_run_id, updates=updates)
        return (await self.tasks.ReportTaskRuns(request)).acknowledged_through

    async def states(self, task_run_id: str) -> list[states_pb2.State]:
        request = task_runs_pb2.ListTaskRunStatesRequest(task_run_id=task_run_id, page_size=200)
        return list((await self.tasks.ListTaskRunStates(request)).states)

    async def lookup(self, cache_key: str) -> task_runs_pb2.LookupCachedStateResponse:
        request = task_runs_pb2.LookupCachedStateRequest(cache_key=cache_key)
        return await self.tasks.LookupCachedState(request)


@pytest.fixture
async def api(server: RunplaneServer) -> AsyncIterator[Api]:
    async with grpc.aio.insecure_channel(server.address) as channel:
        yield Api(
            task_runs_pb2_grpc.TaskRunServiceStub(channel),
            flow_runs_pb2_grpc.FlowRunServiceStub(channel),
            flows_pb2_grpc.FlowServiceStub(channel),
        )


async def expect_error(call: object, code: grpc.StatusCode, text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    assert text in (caught.value.details() or ""), caught.value.details()


async def test_create_is_idempotent_on_its_keys(api: Api) -> None:
    flow_run_id = await api.flow_run()
    upstream = str(uuid.uuid4())
    spec = task_runs_pb2.TaskRunSpec(
        flow_run_id=flow_run_id,
        task_key="extract-abc123",
        dynamic_key="0",
        tags=["io"],
        inputs={"rows": task_runs_pb2.TaskRunInputs(task_run_ids=[upstream])},
        retry_policy=states_pb2.RetryPolicy(retries=3),
    )
    request = task_runs_pb2.CreateTaskRunRequest(spec=spec)
    first = await api.tasks.CreateTaskRun(request)
    again = await api.tasks.CreateTaskRun(request)
    assert first.created
    assert not again.created
    assert again.task_run.id == first.task_run.id
    run = first.task_run
    assert run.state.type == T.STATE_TYPE_PENDING
    assert run.name.startswith("extract-abc123-")
    assert list(run.inputs["rows"].task_run_ids) == [upstream]
    assert run.retry_policy.retries == 3
    fetched = await api.tasks.GetTaskRun(task_runs_pb2.GetTaskRunRequest(task_run_id=run.id))
    assert fetched.task_run == run
    other = await api.create(flow_run_id, task_key="extract-abc123", dynamic_key="1")
    assert other.id != run.id


async def test_create_refuses_bad_input(api: Api) -> None:
    flow_run_id = await api.flow_run()
    create = api.tasks.CreateTaskRun
    request = task_runs_pb2.CreateTaskRunRequest
    spec = task_runs_pb2.TaskRunSpec
    await expect_error(create(request()), INVALID, "spec")
    await expect_error(
        create(request(spec=spec(task_key="k", flow_run_id="nope"))), INVALID, "spec.flow_run_id"
    )
    await expect_error(create(request(spec=spec(flow_run_id=flow_run_id))), INVALID, "task_key")
    await expect_error(
        create(request(spec=spec(flow_run_id=str(uuid.uuid4()), task_key="k"))),
        grpc.StatusCode.NOT_FOUND,
        "flow run",
    )
    await expect_error(
        create(request(spec=spec(flow_run_id=flow_run_id, task_key="k", task_run_id="?"))),
        INVALID,
        "spec.task_run_id",
    )
    bad_inputs = {"x": task_runs_pb2.TaskRunInputs(task_run_ids=["nope"])}
    await expect_error(
        create(request(spec=spec(flow_run_id=flow_run_id, task_key="k", inputs=bad_inputs))),
        INVALID,
        "spec.inputs[x].task_run_ids[0]",
    )
    running = states_pb2.State(type=T.STATE_TYPE_RUNNING)
    await expect_error(
        create(request(spec=spec(flow_run_id=flow_run_id, task_key="k"), state=running)),
        INVALID,
        "state.type",
    )
    chosen = str(uuid.uuid4())
    await api.create(flow_run_id, task_run_id=chosen, task_key="a")
    await expect_error(
        create(request(spec=spec(flow_run_id=flow_run_id, task_key="b", task_run_id=chosen))),
        grpc.StatusCode.ALREADY_EXISTS,
        chosen,
    )


async def test_server_orchestrated_states_retry_and_repeat_once(api: Api) -> None:
    flow_run_id = await api.flow_run()
    run = await api.create(flow_run_id, retry_policy=states_pb2.RetryPolicy(retries=1))
    transition_id = str(uuid.uuid4())
    running = states_pb2.State(type=T.STATE_TYPE_RUNNING)
    first = await api.propose(run.id, running, transition_id=transition_id)
    again = await api.propose(run.id, running, transition_id=transition_id)
    assert first.status == again.status == Status.ORCHESTRATION_STATUS_ACCEPT
    assert again.state == first.state
    double = await api.propose(run.id, states_pb2.State(type=T.STATE_TYPE_PENDING))
    assert double.status == Status.ORCHESTRATION_STATUS_ABORT
    assert double.reason
    failed = states_pb2.State(type=T.STATE_TYPE_FAILED, message="boom")
    retry = await api.propose(run.id, failed)
    assert retry.status == Status.ORCHESTRATION_STATUS_REJECT
    assert retry.state.name == "AwaitingRetry"
    assert (await api.propose(run.id, running)).state.name == "Retrying"
    done = await api.propose(run.id, completed())
    assert done.status == Status.ORCHESTRATION_STATUS_ACCEPT
    late = await api.propose(run.id, running)
    assert late.status == Status.ORCHESTRATION_STATUS_REJECT
    assert late.state.type == T.STATE_TYPE_COMPLETED
    request = task_runs_pb2.GetTaskRunRequest(task_run_id=run.id)
    fetched = (await api.tasks.GetTaskRun(request)).task_run
    assert fetched.run_count == 2
    assert fetched.end_time == done.state.timestamp
    names = [s.name for s in await api.states(run.id)]
    assert names == ["Pending", "Running", "AwaitingRetry", "Retrying", "Completed"]


async def test_set_state_refuses_bad_input(api: Api) -> None:
    call = api.tasks.SetTaskRunState
    request = task_runs_pb2.SetTaskRunStateRequest
    running = states_pb2.State(type=T.STATE_TYPE_RUNNING)
    run = await api.create(await api.flow_run())
    await expect_error(call(request(state=running)), INVALID, "task_run_id")
    await expect_error(call(request(task_run_id=run.id)), INVALID, "state")
    await expect_error(
        call(request(task_run_id=run.id, state=states_pb2.State(type=12))), INVALID, "state.type"
    )
    await expect_error(
        call(request(task_run_id=run.id, state=running, transition_id="x")),
        INVALID,
        "transition_id",
    )
    await expect_error(
        call(request(task_run_id=str(uuid.uuid4()), state=running)),
        grpc.StatusCode.NOT_FOUND,
        "task run",
    )


async def test_list_filters_and_pages_oldest_first(api: Api) -> None:
    flow_run_id = await api.flow_run()
    created = [await api.create(flow_run_id, task_key="same", dynamic_key=str(i)) for i in range(3)]
    await api.propose(created[1].id, states_pb2.State(type=T.STATE_TYPE_RUNNING))
    task_filter = task_runs_pb2.TaskRunFilter(flow_run_ids=[flow_run_id])
    request = task_runs_pb2.ListTaskRunsRequest
    first = await api.tasks.ListTaskRuns(request(filter=task_filter, page_size=2))
    second = await api.tasks.ListTaskRuns(
        request(filter=task_filter, page_size=2, page_token=first.next_page_token)
    )
    listed = [r.id for r in [*first.task_runs, *second.task_runs]]
    assert sorted(listed) == sorted(r.id for r in created)
    keys = [(r.create_time.ToDatetime(), r.id) for r in [*first.task_runs, *second.task_runs]]
    assert keys == sorted(keys)
    assert not second.next_page_token
    running = task_runs_pb2.TaskRunFilter(
        flow_run_ids=[flow_run_id], state_types=[T.STATE_TYPE_RUNNING], task_key="same"
    )
    response = await api.tasks.ListTaskRuns(request(filter=running))
    assert [r.id for r in response.task_runs] == [created[1].id]
    by_id = task_runs_pb2.TaskRunFilter(task_run_ids=[created[2].id])
    assert [r.id for r in (await api.tasks.ListTaskRuns(request(filter=by_id))).task_runs] == [
        created[2].id
    ]
    await expect_error(api.tasks.ListTaskRuns(request(page_size=-1)), INVALID, "page_size")
    await expect_error(api.tasks.ListTaskRuns(request(page_token="x")), INVALID, "page_token")
    bad = task_runs_pb2.TaskRunFilter(state_types=[55])
    await expect_error(
        api.tasks.ListTaskRuns(request(filter=bad)), INVALID, "filter.state_types[0]"
    )


async def test_list_states_refuses_bad_input(api: Api) -> None:
    call = api.tasks.ListTaskRunStates
    request = task_runs_pb2.ListTaskRunStatesRequest
    await expect_error(call(request(task_run_id="")), INVALID, "task_run_id")
    await expect_error(
        call(request(task_run_id=str(uuid.uuid4()))), grpc.StatusCode.NOT_FOUND, "task run"
    )
    run = await api.create(await api.flow_run())
    await expect_error(call(request(task_run_id=run.id, page_size=-1)), INVALID, "page_size")


def _task_updates(count: int, first_sequence: int = 1) -> tuple[list[Update], list[str]]:
    """Creates `count` task runs, each with Running then Completed: three updates each."""
    updates: list[Update] = []
    ids: list[str] = []
    sequence = first_sequence
    for index in range(count):
        task_run_id = str(uuid.uuid4())
        ids.append(task_run_id)
        spec = task_runs_pb2.TaskRunSpec(task_key="mapped", dynamic_key=str(index))
        pending = states_pb2.State(type=T.STATE_TYPE_PENDING)
        updates.append(
            Update(sequence=sequence, task_run_id=task_run_id, create=spec, state=pending)
        )
        running = states_pb2.State(type=T.STATE_TYPE_RUNNING)
        updates.append(Update(sequence=sequence + 1, task_run_id=task_run_id, state=running))
        updates.append(Update(sequence=sequence + 2, task_run_id=task_run_id, state=completed()))
        sequence += 3
    return updates, ids


async def test_a_report_of_500_updates_is_applied_in_one_call(api: Api) -> None:
    flow_run_id = await api.flow_run()
    updates, ids = _task_updates(167)
    updates = updates[:500]
    assert await api.report(flow_run_id, updates) == 500
    task_filter = task_runs_pb2.TaskRunFilter(flow_run_ids=[flow_run_id])
    listed: list[task_runs_pb2.TaskRun] = []
    token = ""
    while True:
        page = await api.tasks.ListTaskRuns(
            task_runs_pb2.ListTaskRunsRequest(filter=task_filter, page_size=200, page_token=token)
        )
        listed.extend(page.task_runs)
        token = page.next_page_token
        if not token:
            break
    assert len(listed) == 167
    by_id = {r.id: r for r in listed}
    done = by_id[ids[0]]
    assert done.state.type == T.STATE_TYPE_COMPLETED
    assert done.run_count == 1
    assert done.start_time.ToDatetime() < done.end_time.ToDatetime()
    # The last task run's Completed was update 501, which this batch did not include.
    assert by_id[ids[-1]].state.type == T.STATE_TYPE_RUNNING
    assert [s.type for s in await api.states(ids[0])] == [
        T.STATE_TYPE_PENDING,
        T.STATE_TYPE_RUNNING,
        T.STATE_TYPE_COMPLETED,
    ]


async def test_a_replayed_report_is_acknowledged_without_duplicates(api: Api) -> None:
    flow_run_id = await api.flow_run()
    updates, ids = _task_updates(2)
    assert await api.report(flow_run_id, updates[:4]) == 4
    # A resend overlapping what was applied: only 5 and 6 are new.
    assert await api.report(flow_run_id, updates) == 6
    assert await api.report(flow_run_id, updates) == 6
    assert len(await api.states(ids[0])) == 3
    assert len(await api.states(ids[1])) == 3
    task_filter = task_runs_pb2.TaskRunFilter(flow_run_ids=[flow_run_id])
    listed = await api.tasks.ListTaskRuns(task_runs_pb2.ListTaskRunsRequest(filter=task_filter))
    assert sorted(r.id for r in listed.task_runs) == sorted(ids)


async def test_a_report_with_a_gap_is_refused(api: Api) -> None:
    flow_run_id = await api.flow_run()
    updates, ids = _task_updates(2)
    assert await api.report(flow_run_id, updates[:2]) == 2
    await expect_error(
        api.report(flow_run_id, [updates[4]]), INVALID, "updates[0].sequence: expected sequence 3"
    )
    gap = [updates[2], updates[5]]
    await expect_error(api.report(flow_run_id, gap), INVALID, "updates[1].sequence")
    # Nothing of the refused batch was applied.
    assert len(await api.states(ids[0])) == 2


async def test_a_report_refuses_bad_input(api: Api) -> None:
    flow_run_id = await api.flow_run()
    run_id = str(uuid.uuid4())
    pending = states_pb2.State(type=T.STATE_TYPE_PENDING)
    await expect_error(api.report("", []), INVALID, "flow_run_id")
    await expect_error(
        api.report(str(uuid.uuid4()), [Update(sequence=1, task_run_id=run_id, state=pending)]),
        grpc.StatusCode.NOT_FOUND,
        "flow run",
    )
    cases = [
        (Update(sequence=0, task_run_id=run_id, state=pending), "updates[0].sequence"),
        (Update(sequence=1, task_run_id="bad", state=pending), "updates[0].task_run_id"),
        (Update(sequence=1, task_run_id=run_id), "updates[0]"),
        (
            Update(sequence=1, task_run_id=run_id, state=states_pb2.State(type=30)),
            "updates[0].state.type",
        ),
        (
            Update(sequence=1, task_run_id=run_id, create=task_runs_pb2.TaskRunSpec()),
            "updates[0].create.task_key",
        ),
        (
            Update(
                sequence=1,
                task_run_id=run_id,
                create=task_runs_pb2.TaskRunSpec(task_key="k", flow_run_id=str(uuid.uuid4())),
            ),
            "updates[0].create.flow_run_id",
        ),
        (Update(sequence=1, task_run_id=run_id, state=pending), "updates[0].task_run_id"),
    ]
    for update, field in cases:
        await expect_error(api.report(flow_run_id, [update]), INVALID, field)
    twice = [Update(sequence=1, task_run_id=run_id, state=pending)] * 2
    await expect_error(api.report(flow_run_id, twice), INVALID, "updates[1].sequence")


async def test_lookup_cached_state_hits_misses_and_expires(api: Api) -> None:
    flow_run_id = await api.flow_run()
    fresh_key, old_key = unique("cache"), unique("cache")
    now = datetime.now(UTC)
    fresh = await api.create(flow_run_id)
    await api.propose(fresh.id, states_pb2.State(type=T.STATE_TYPE_RUNNING))
    written = await api.propose(fresh.id, completed(fresh_key, now + timedelta(hours=1)))
    expired = await api.create(flow_run_id)
    await api.propose(expired.id, states_pb2.State(type=T.STATE_TYPE_RUNNING))
    await api.propose(expired.id, completed(old_key, now - timedelta(seconds=1)))
    hit = await api.lookup(fresh_key)
    assert hit.found
    assert hit.task_run_id == fresh.id
    assert hit.state == written.state
    assert hit.state.result.key
    assert not (await api.lookup(old_key)).found
    assert not (await api.lookup(unique("absent"))).found
    await expect_error(api.lookup(""), INVALID, "cache_key")
    await expect_error(api.lookup("k" * 2001), INVALID, "cache_key")


async def test_a_reported_cached_completion_is_found(api: Api) -> None:
    flow_run_id = await api.flow_run()
    key = unique("cache")
    run_id = str(uuid.uuid4())
    spec = task_runs_pb2.TaskRunSpec(task_key="cached")
    updates = [
        Update(sequence=1, task_run_id=run_id, create=spec, state=completed(key)),
    ]
    assert await api.report(flow_run_id, updates) == 1
    hit = await api.lookup(key)
    assert hit.found
    assert hit.task_run_id == run_id


async def test_a_reported_create_under_taken_keys_records_on_the_existing_run(api: Api) -> None:
    flow_run_id = await api.flow_run()
    existing = await api.create(flow_run_id, task_key="taken", dynamic_key="0")
    fresh_id, alias_id = str(uuid.uuid4()), str(uuid.uuid4())
    running = states_pb2.State(type=T.STATE_TYPE_RUNNING)
    updates = [
        Update(
            sequence=1,
            task_run_id=fresh_id,
            create=task_runs_pb2.TaskRunSpec(task_key="taken", dynamic_key="1"),
            state=running,
        ),
        Update(
            sequence=2,
            task_run_id=alias_id,
            create=task_runs_pb2.TaskRunSpec(task_key="taken", dynamic_key="0"),
            state=running,
        ),
        Update(sequence=3, task_run_id=alias_id, state=completed()),
        Update(sequence=4, task_run_id=fresh_id, state=completed()),
    ]
    assert await api.report(flow_run_id, updates) == 4
    got = await api.tasks.GetTaskRun(task_runs_pb2.GetTaskRunRequest(task_run_id=existing.id))
    assert (got.task_run.state.type, got.task_run.run_count) == (T.STATE_TYPE_COMPLETED, 1)
    # After the Pending it was created with.
    assert [s.type for s in await api.states(existing.id)][-2:] == [
        T.STATE_TYPE_RUNNING,
        T.STATE_TYPE_COMPLETED,
    ]
    assert [s.type for s in await api.states(fresh_id)] == [
        T.STATE_TYPE_RUNNING,
        T.STATE_TYPE_COMPLETED,
    ]
