"""A subscriber's slots, as the server counts them: never more runs pushed than it has room for.

Raw SubscribeWork streams and unary calls, as a worker in another language would make them.
Every run the server hands to a subscription holds one of its slots until the run is final,
back to SCHEDULED or Suspended; what heartbeats list or declare does not change that count.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from delivery_support import (
    create_deployment,
    next_item,
    propose,
    quiet,
    run_deployment,
    serving,
    subscribe,
    unique,
)

from runplane.server import ServerSettings
from runplane.v1 import flow_runs_pb2, flow_runs_pb2_grpc, states_pb2, work_pb2, work_pb2_grpc

pytestmark = pytest.mark.anyio

RUNNING = states_pb2.STATE_TYPE_RUNNING
COMPLETED = states_pb2.STATE_TYPE_COMPLETED
PAUSED = states_pb2.STATE_TYPE_PAUSED
ACCEPT = states_pb2.ORCHESTRATION_STATUS_ACCEPT
# Long enough for a delivery pass on a loaded machine: a push would come well within it.
NOTHING_WITHIN = 1.0


async def _due_runs(channel: grpc.aio.Channel, pool: str, count: int) -> list[str]:
    deployment = await create_deployment(channel, pool)
    return [(await run_deployment(channel, deployment.id)).id for _ in range(count)]


class _Pushes:
    """What a stream pushes, read by a task of its own, so that waiting for an item with a
    deadline never cancels the call."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._items: asyncio.Queue[work_pb2.SubscribeWorkResponse] = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while (item := await self._stream.read()) is not grpc.aio.EOF:
            if item.WhichOneof("item") != "ping":
                self._items.put_nowait(item)

    async def next(self, within: float) -> work_pb2.SubscribeWorkResponse:
        async with asyncio.timeout(within):
            return await self._items.get()

    def cancel(self) -> None:
        self._reader.cancel()
        self._stream.cancel()


async def _assignments(pushes: _Pushes, count: int) -> list[work_pb2.RunAssignment]:
    return [(await pushes.next(within=10.0)).assignment for _ in range(count)]


async def _nothing_pushed(pushes: _Pushes) -> None:
    try:
        item = await pushes.next(within=NOTHING_WITHIN)
    except TimeoutError:
        return
    pytest.fail(f"pushed beyond the slots: {item.assignment.flow_run.id or item}")


async def _start(channel: grpc.aio.Channel, assignment: work_pb2.RunAssignment) -> None:
    run_id = assignment.flow_run.id
    assert (await propose(channel, run_id, RUNNING, lease_id=assignment.lease_id)).status == ACCEPT


async def _heartbeat(
    channel: grpc.aio.Channel,
    started: work_pb2.SubscriptionStarted,
    run_ids: list[str],
    free_slots: int,
) -> None:
    await work_pb2_grpc.WorkServiceStub(channel).Heartbeat(
        work_pb2.HeartbeatRequest(
            runner_id=started.runner_id,
            session_id=started.session_id,
            running_flow_run_ids=run_ids,
            free_slots=free_slots,
        )
    )


async def test_a_started_run_not_yet_in_a_heartbeat_still_holds_its_slot(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        await _due_runs(channel, pool, 6)
        stream, started = await subscribe(channel, pool, slots=2)
        pushes = _Pushes(stream)
        held = await _assignments(pushes, 2)
        for assignment in held:
            await _start(channel, assignment)
        # A heartbeat the worker counted before these runs reached it: it lists none of them
        # and declares both slots free. They are RUNNING, so they still hold both slots.
        await _heartbeat(channel, started, [], free_slots=2)
        await _nothing_pushed(pushes)
        pushes.cancel()


async def test_when_one_run_ends_exactly_one_more_is_pushed_without_a_heartbeat(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        await _due_runs(channel, pool, 6)
        pushes = _Pushes((await subscribe(channel, pool, slots=2))[0])
        first, second = await _assignments(pushes, 2)
        await _nothing_pushed(pushes)
        await _start(channel, first)
        assert (await _finish(channel, first)).status == ACCEPT
        (third,) = await _assignments(pushes, 1)
        await _nothing_pushed(pushes)
        pushes.cancel()
    assert len({first.flow_run.id, second.flow_run.id, third.flow_run.id}) == 3


async def test_a_full_worker_subscribes_with_no_free_slot_and_gets_work_when_a_run_ends(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        runner = unique("runner")
        await _due_runs(channel, pool, 3)
        old = _Pushes((await subscribe(channel, pool, slots=1, runner=runner))[0])
        (held,) = await _assignments(old, 1)
        old.cancel()
        # Reconnected and full: its one slot is the run it holds, whose lease it presents.
        stream = work_pb2_grpc.WorkServiceStub(channel).SubscribeWork(
            work_pb2.SubscribeWorkRequest(
                work_pool_name=pool,
                runner_name=runner,
                free_slots=0,
                held_lease_ids=[held.lease_id],
            )
        )
        assert (await stream.read()).WhichOneof("item") == "started"
        pushes = _Pushes(stream)
        await _nothing_pushed(pushes)
        await _start(channel, held)
        await _nothing_pushed(pushes)
        assert (await _finish(channel, held)).status == ACCEPT
        (pushed,) = await _assignments(pushes, 1)
        await _nothing_pushed(pushes)
        pushes.cancel()
    assert pushed.flow_run.id != held.flow_run.id


async def _finish(
    channel: grpc.aio.Channel, assignment: work_pb2.RunAssignment
) -> states_pb2.OrchestrationResult:
    """COMPLETED, proposed by the holder of the assignment's lease."""
    return await propose(channel, assignment.flow_run.id, COMPLETED, assignment.lease_id)


async def _pause(channel: grpc.aio.Channel, assignment: work_pb2.RunAssignment, name: str) -> None:
    state = states_pb2.State(type=PAUSED, name=name)
    state.details.pause_deadline.GetCurrentTime()
    state.details.pause_deadline.seconds += 3600
    response = await flow_runs_pb2_grpc.FlowRunServiceStub(channel).SetFlowRunState(
        flow_runs_pb2.SetFlowRunStateRequest(
            flow_run_id=assignment.flow_run.id,
            state=state,
            transition_id=str(uuid.uuid4()),
            lease_id=assignment.lease_id,
        )
    )
    assert response.result.status == ACCEPT, response.result.reason


async def test_a_paused_run_holds_its_slot_and_a_suspended_one_frees_it(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        await _due_runs(channel, pool, 4)
        pushes = _Pushes((await subscribe(channel, pool, slots=2))[0])
        paused, suspended = await _assignments(pushes, 2)
        for assignment in (paused, suspended):
            await _start(channel, assignment)
        await _pause(channel, paused, "Paused")
        await _nothing_pushed(pushes)
        await _pause(channel, suspended, "Suspended")
        (pushed,) = await _assignments(pushes, 1)
        await _nothing_pushed(pushes)
        pushes.cancel()
    assert pushed.flow_run.id not in (paused.flow_run.id, suspended.flow_run.id)


async def test_a_released_run_frees_its_slot_for_exactly_one_more(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        await _due_runs(channel, pool, 4)
        pushes = _Pushes((await subscribe(channel, pool, slots=1))[0])
        (given_back,) = await _assignments(pushes, 1)
        await work_pb2_grpc.WorkServiceStub(channel).ReleaseAssignment(
            work_pb2.ReleaseAssignmentRequest(
                flow_run_id=given_back.flow_run.id, lease_id=given_back.lease_id
            )
        )
        await _assignments(pushes, 1)
        await _nothing_pushed(pushes)
        pushes.cancel()


class _Worker:
    """Works like a runner with ``slots`` slots: starts each assignment, finishes it a moment
    later and heartbeats after each run, counting what it holds at every push."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        pool: str,
        slots: int,
        finished: list[str],
        progress: asyncio.Event,
    ) -> None:
        self.channel = channel
        self.pool = pool
        self.slots = slots
        self.held: set[str] = set()
        self.most_held = 0
        self.finished = finished
        self.progress = progress

    async def run(self, done: asyncio.Event) -> None:
        stream, started = await subscribe(self.channel, self.pool, self.slots)
        ended = asyncio.ensure_future(done.wait())
        async with asyncio.TaskGroup() as group:
            while True:
                read = asyncio.ensure_future(next_item(stream, within=60.0))
                await asyncio.wait([read, ended], return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    read.cancel()
                    break
                assignment = read.result().assignment
                self.held.add(assignment.flow_run.id)
                self.most_held = max(self.most_held, len(self.held))
                group.create_task(self._work(assignment, started))
        stream.cancel()

    async def _work(
        self, assignment: work_pb2.RunAssignment, started: work_pb2.SubscriptionStarted
    ) -> None:
        run_id = assignment.flow_run.id
        # What the next heartbeat says is counted before the run starts, as it is when a
        # heartbeat crosses a push.
        listed, free = sorted(self.held - {run_id}), self.slots - len(self.held) + 1
        await _start(self.channel, assignment)
        heartbeat = asyncio.create_task(_heartbeat(self.channel, started, listed, free))
        assert (await _finish(self.channel, assignment)).status == ACCEPT
        self.held.discard(run_id)
        self.finished.append(run_id)
        self.progress.set()
        await heartbeat
        await _heartbeat(self.channel, started, sorted(self.held), self.slots - len(self.held))


async def test_bursts_never_fill_a_subscriber_beyond_its_slots(
    server_settings: ServerSettings,
) -> None:
    slots, bursts, burst = 3, 3, 20
    finished: list[str] = []
    created: list[str] = []
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        deployment = await create_deployment(channel, pool)
        done = asyncio.Event()
        progress = asyncio.Event()
        workers = [_Worker(channel, pool, slots, finished, progress) for _ in range(2)]
        async with asyncio.timeout(120), asyncio.TaskGroup() as group:
            for worker in workers:
                group.create_task(worker.run(done))
            for _ in range(bursts):
                created += [(await run_deployment(channel, deployment.id)).id for _ in range(burst)]
                while True:
                    progress.clear()
                    if len(finished) >= len(created):
                        break
                    await progress.wait()
            done.set()
    assert sorted(finished) == sorted(created)
    assert max(w.most_held for w in workers) <= slots
