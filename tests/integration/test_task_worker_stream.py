"""Task workers at the protocol level, with raw stubs as a worker in any language calls them.

A background task run is pushed to one subscribed task worker the moment it is created,
claimed under a lease; every proposal about it must present that lease; a worker's slots
bound what it is sent; a run whose worker went silent is handed out again under a new lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import grpc
import pytest
from delivery_support import ManualClock, next_item, quiet, serving, unique

from runplane.server import ServerSettings
from runplane.v1 import states_pb2, task_runs_pb2, task_runs_pb2_grpc

pytestmark = pytest.mark.anyio

SCHEDULED = states_pb2.STATE_TYPE_SCHEDULED
PENDING = states_pb2.STATE_TYPE_PENDING
RUNNING = states_pb2.STATE_TYPE_RUNNING
COMPLETED = states_pb2.STATE_TYPE_COMPLETED
CANCELLING = states_pb2.STATE_TYPE_CANCELLING
CANCELLED = states_pb2.STATE_TYPE_CANCELLED
ACCEPT = states_pb2.ORCHESTRATION_STATUS_ACCEPT
ABORT = states_pb2.ORCHESTRATION_STATUS_ABORT


def _stub(channel: grpc.aio.Channel) -> task_runs_pb2_grpc.TaskRunServiceStub:
    return task_runs_pb2_grpc.TaskRunServiceStub(channel)


async def _delay(channel: grpc.aio.Channel, task_key: str, **arguments: Any) -> str:
    spec = task_runs_pb2.TaskRunSpec(
        task_key=task_key, background=True, parameters_json=json.dumps(arguments)
    )
    state = states_pb2.State(type=SCHEDULED)
    response = await _stub(channel).CreateTaskRun(
        task_runs_pb2.CreateTaskRunRequest(spec=spec, state=state)
    )
    assert response.created
    return response.task_run.id


async def _subscribe(
    channel: grpc.aio.Channel, task_key: str, slots: int, worker: str = ""
) -> tuple[Any, task_runs_pb2.TaskWorkerStarted]:
    stream = _stub(channel).SubscribeTaskRuns(
        task_runs_pb2.SubscribeTaskRunsRequest(
            task_keys=[task_key], worker_name=worker or unique("worker"), free_slots=slots
        )
    )
    first = await stream.read()
    return stream, first.started


async def _propose(
    channel: grpc.aio.Channel, run_id: str, state_type: int, lease_id: str
) -> states_pb2.OrchestrationResult:
    request = task_runs_pb2.SetTaskRunStateRequest(
        task_run_id=run_id,
        state=states_pb2.State(type=state_type),
        transition_id=str(uuid.uuid4()),
        lease_id=lease_id,
    )
    return (await _stub(channel).SetTaskRunState(request)).result


async def test_a_delayed_run_is_pushed_and_moves_only_under_its_lease(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        key = unique("tasks.add")
        stream, started = await _subscribe(channel, key, slots=2)
        assert started.worker_id
        assert started.heartbeat_timeout.seconds > 0
        run_id = await _delay(channel, key, x=1, y=2)
        assignment = (await next_item(stream, within=10)).assignment
        assert assignment.task_run.id == run_id
        assert assignment.task_run.state.type == PENDING
        assert assignment.task_run.attempt == 1
        assert not assignment.task_run.flow_run_id
        assert json.loads(assignment.task_run.parameters_json) == {"x": 1, "y": 2}

        # A hostile client: a made-up lease, and no lease at all.
        foreign = await _propose(channel, run_id, RUNNING, str(uuid.uuid4()))
        assert foreign.status == ABORT
        assert "stale or foreign" in foreign.reason
        missing = await _propose(channel, run_id, RUNNING, "")
        assert missing.status == ABORT
        assert "present its lease" in missing.reason

        lease = assignment.lease_id
        assert (await _propose(channel, run_id, RUNNING, lease)).status == ACCEPT
        assert (await _propose(channel, run_id, COMPLETED, lease)).status == ACCEPT
        watch = _stub(channel).WatchTaskRun(task_runs_pb2.WatchTaskRunRequest(task_run_id=run_id))
        seen = [item.task_run.state.type async for item in watch]
        assert seen == [COMPLETED]
        stream.cancel()


async def test_a_background_run_must_start_scheduled_outside_any_flow(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        spec = task_runs_pb2.TaskRunSpec(task_key="k", background=True)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _stub(channel).CreateTaskRun(task_runs_pb2.CreateTaskRunRequest(spec=spec))
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "state.type" in (caught.value.details() or "")
        plain = task_runs_pb2.TaskRunSpec(task_key="k", parameters_json="{}")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _stub(channel).CreateTaskRun(task_runs_pb2.CreateTaskRunRequest(spec=plain))
        assert "spec.parameters_json" in (caught.value.details() or "")
        stream = _stub(channel).SubscribeTaskRuns(
            task_runs_pb2.SubscribeTaskRunsRequest(task_keys=["k"], free_slots=0)
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stream.read()
        assert "free_slots" in (caught.value.details() or "")


async def test_two_workers_never_get_the_same_run_and_slots_bound_each(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        key = unique("tasks.work")
        first, _ = await _subscribe(channel, key, slots=2)
        second, _ = await _subscribe(channel, key, slots=2)
        run_ids = {await _delay(channel, key, i=i) for i in range(6)}
        got: dict[str, list[str]] = {"first": [], "second": []}
        four = asyncio.Event()

        async def take(name: str, stream: Any) -> None:
            while True:
                item = await next_item(stream, within=10)
                got[name].append(item.assignment.task_run.id)
                if len(got["first"]) + len(got["second"]) >= 4:
                    four.set()

        tasks = [asyncio.create_task(take(n, s)) for n, s in (("first", first), ("second", second))]
        # Four runs fill both workers' two slots; the other two wait for a slot.
        async with asyncio.timeout(10):
            await four.wait()
        # Nothing more comes while the four runs hold every slot.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.3):
                await asyncio.Event().wait()
        assert len(got["first"]) == 2
        assert len(got["second"]) == 2
        assert not set(got["first"]) & set(got["second"])
        for task in tasks:
            task.cancel()
        first.cancel()
        second.cancel()
        assert set(got["first"]) | set(got["second"]) <= run_ids


async def test_a_silent_workers_run_is_handed_out_again_and_its_old_lease_refused(
    server_settings: ServerSettings,
) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        key = unique("tasks.slow")
        first_stream, first = await _subscribe(channel, key, slots=1)
        run_id = await _delay(channel, key)
        old = (await next_item(first_stream, within=10)).assignment
        assert (await _propose(channel, run_id, RUNNING, old.lease_id)).status == ACCEPT
        first_stream.cancel()
        second_stream, _ = await _subscribe(channel, key, slots=1)
        # The first worker went silent: no heartbeat extends its lease, which expires.
        clock.advance(server.context.settings.heartbeat_timeout + 1)
        # (Other tests' runs on the same database may expire with it.)
        assert await server.context.background.task_workers.expire_leases() >= 1
        new = (await next_item(second_stream, within=10)).assignment
        assert new.task_run.id == run_id
        assert new.task_run.attempt == 2
        assert new.lease_id != old.lease_id
        late = await _propose(channel, run_id, COMPLETED, old.lease_id)
        assert late.status == ABORT
        heartbeat = await _stub(channel).HeartbeatTaskRuns(
            task_runs_pb2.HeartbeatTaskRunsRequest(
                worker_id=first.worker_id, running_task_run_ids=[run_id]
            )
        )
        assert list(heartbeat.unknown_task_run_ids) == [run_id]
        assert (await _propose(channel, run_id, RUNNING, new.lease_id)).status == ACCEPT
        assert (await _propose(channel, run_id, COMPLETED, new.lease_id)).status == ACCEPT
        second_stream.cancel()


async def test_a_cancelled_run_is_named_in_the_workers_heartbeat_and_ends_cancelled(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        key = unique("tasks.cancel")
        stream, started = await _subscribe(channel, key, slots=1)
        run_id = await _delay(channel, key)
        lease = (await next_item(stream, within=10)).assignment.lease_id
        assert (await _propose(channel, run_id, RUNNING, lease)).status == ACCEPT
        # An operator cancels without the lease; the worker hears it on its next heartbeat.
        assert (await _propose(channel, run_id, CANCELLING, "")).status == ACCEPT
        heartbeat = await _stub(channel).HeartbeatTaskRuns(
            task_runs_pb2.HeartbeatTaskRunsRequest(
                worker_id=started.worker_id, running_task_run_ids=[run_id]
            )
        )
        assert list(heartbeat.cancel_task_run_ids) == [run_id]
        assert list(heartbeat.unknown_task_run_ids) == []
        assert (await _propose(channel, run_id, CANCELLED, lease)).status == ACCEPT
        stream.cancel()
