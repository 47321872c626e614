"""Work delivery through real servers and real SubscribeWork streams, with no sweep."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import grpc
import pytest
from delivery_support import (
    ManualClock,
    create_deployment,
    get_run,
    next_item,
    propose,
    quiet,
    run_deployment,
    serving,
    subscribe,
    unique,
)
from google.protobuf import field_mask_pb2

from runplane.server import ServerSettings
from runplane.v1 import (
    deployments_pb2,
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2,
    flows_pb2_grpc,
    states_pb2,
    work_pb2,
    work_pb2_grpc,
)

pytestmark = pytest.mark.anyio

PENDING = states_pb2.STATE_TYPE_PENDING
RUNNING = states_pb2.STATE_TYPE_RUNNING
COMPLETED = states_pb2.STATE_TYPE_COMPLETED
ABORT = states_pb2.ORCHESTRATION_STATUS_ABORT
ACCEPT = states_pb2.ORCHESTRATION_STATUS_ACCEPT


async def test_a_run_due_now_is_pushed_at_once(server_settings: ServerSettings) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        stream, _ = await subscribe(channel, pool, slots=1)
        deployment = await create_deployment(channel, pool)
        run = await run_deployment(channel, deployment.id)
        # With the sweep an hour away, only the push can deliver it (its speed: bench/).
        item = await next_item(stream)
        stream.cancel()
    assert item.assignment.flow_run.id == run.id
    assert item.assignment.flow_run.state.type == PENDING
    assert item.assignment.attempt == 1
    assert item.assignment.deployment.id == deployment.id


async def test_a_future_run_is_pushed_when_due(server_settings: ServerSettings) -> None:
    async with serving(quiet(server_settings)) as (server, channel):
        pool = unique("pool")
        stream, _ = await subscribe(channel, pool, slots=1)
        deployment = await create_deployment(channel, pool)
        due = server.context.clock.now() + timedelta(seconds=0.3)
        run = await run_deployment(channel, deployment.id, at=due)
        item = await next_item(stream)
        received = server.context.clock.now()
        stream.cancel()
    assert item.assignment.flow_run.id == run.id
    assert received >= due


async def _work_like_a_runner(
    channel: object, pool: str, seen: list[str], done: asyncio.Event, total: int
) -> int:
    """Takes one run at a time: starts it under its lease, completes it, heartbeats."""
    stream, started = await subscribe(channel, pool, slots=1)  # type: ignore[arg-type]
    stub = work_pb2_grpc.WorkServiceStub(channel)  # type: ignore[arg-type]
    most_held = 0
    while not done.is_set():
        read = asyncio.ensure_future(next_item(stream))
        finished = asyncio.ensure_future(done.wait())
        await asyncio.wait([read, finished], return_when=asyncio.FIRST_COMPLETED)
        finished.cancel()
        if not read.done():
            read.cancel()
            break
        assignment = read.result().assignment
        run_id = assignment.flow_run.id
        seen.append(run_id)
        most_held = max(most_held, 1)
        running = await propose(channel, run_id, RUNNING, lease_id=assignment.lease_id)  # type: ignore[arg-type]
        assert running.status == ACCEPT
        await propose(channel, run_id, COMPLETED, lease_id=assignment.lease_id)  # type: ignore[arg-type]
        if len(seen) >= total:
            done.set()
        await stub.Heartbeat(
            work_pb2.HeartbeatRequest(
                runner_id=started.runner_id, session_id=started.session_id, free_slots=1
            )
        )
    stream.cancel()
    return most_held


async def test_two_subscribers_take_each_run_exactly_once(
    server_settings: ServerSettings,
) -> None:
    total = 50
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        deployment = await create_deployment(channel, pool)
        seen: list[str] = []
        done = asyncio.Event()
        runners = [
            asyncio.create_task(_work_like_a_runner(channel, pool, seen, done, total))
            for _ in range(2)
        ]
        await asyncio.sleep(0)
        created = [(await run_deployment(channel, deployment.id)).id for _ in range(total)]
        async with asyncio.timeout(60):
            await asyncio.gather(*runners)
    assert sorted(seen) == sorted(created)


async def test_free_slots_bound_what_is_pushed(server_settings: ServerSettings) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        deployment = await create_deployment(channel, pool)
        for _ in range(5):
            await run_deployment(channel, deployment.id)
        stream, _ = await subscribe(channel, pool, slots=2)
        first = await next_item(stream)
        second = await next_item(stream)
        with pytest.raises(TimeoutError):
            await next_item(stream, within=0.5)
        stream.cancel()
    assert first.assignment.flow_run.id != second.assignment.flow_run.id


async def test_an_expired_lease_goes_to_another_runner_and_the_old_lease_aborts(
    server_settings: ServerSettings,
) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        pool = unique("pool")
        deployment = await create_deployment(channel, pool)
        first_stream, _ = await subscribe(channel, pool, slots=1)
        run = await run_deployment(channel, deployment.id)
        first = (await next_item(first_stream)).assignment
        second_stream, _ = await subscribe(channel, pool, slots=1)
        clock.advance(server_settings.work_lease_seconds + 1)
        pools = await server.context.background.reapers.expire_leases()
        for name in pools:
            server.context.background.dispatcher.notify_work(name)
        second = (await next_item(second_stream)).assignment
        stale = await propose(channel, run.id, RUNNING, lease_id=first.lease_id)
        current = await propose(channel, run.id, RUNNING, lease_id=second.lease_id)
        first_stream.cancel()
        second_stream.cancel()
    assert pool in pools
    assert second.flow_run.id == run.id
    assert second.attempt == 2
    assert second.lease_id != first.lease_id
    assert stale.status == ABORT
    assert current.status == ACCEPT


async def test_a_run_created_for_a_pool_is_pushed_at_once(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        stream, _ = await subscribe(channel, pool, slots=1)
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        flow = (await flows.CreateFlow(flows_pb2.CreateFlowRequest(name=unique("flow")))).flow
        runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        created = await runs.CreateFlowRun(
            flow_runs_pb2.CreateFlowRunRequest(
                flow_id=flow.id,
                work_pool_name=pool,
                state=states_pb2.State(type=states_pb2.STATE_TYPE_SCHEDULED),
            )
        )
        item = await next_item(stream)
        stream.cancel()
    assert item.assignment.flow_run.id == created.flow_run.id


async def test_a_cancelling_run_is_pushed_to_its_runner(server_settings: ServerSettings) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        deployment = await create_deployment(channel, pool)
        stream, started = await subscribe(channel, pool, slots=1)
        run = await run_deployment(channel, deployment.id)
        assignment = (await next_item(stream)).assignment
        await propose(channel, run.id, RUNNING, lease_id=assignment.lease_id)
        await propose(channel, run.id, states_pb2.STATE_TYPE_CANCELLING)
        item = await next_item(stream)
        answer = await work_pb2_grpc.WorkServiceStub(channel).Heartbeat(
            work_pb2.HeartbeatRequest(
                runner_id=started.runner_id,
                session_id=started.session_id,
                running_flow_run_ids=[run.id],
                free_slots=0,
            )
        )
        stream.cancel()
    assert item.cancel.flow_run_id == run.id
    assert list(answer.cancel_flow_run_ids) == [run.id]


async def test_an_old_stream_is_asked_to_reconnect(server_settings: ServerSettings) -> None:
    clock = ManualClock()
    settings = quiet(server_settings, work_ping_interval=0.05)
    async with serving(settings, clock) as (_, channel):
        stream, _ = await subscribe(channel, unique("pool"), slots=1)
        clock.advance(settings.work_reconnect_after_max + 1)
        item = await next_item(stream)
    assert item.WhichOneof("item") == "reconnect"


async def _one_running_one_waiting(
    channel: grpc.aio.Channel,
) -> tuple[Any, work_pb2.RunAssignment, str, states_pb2.State]:
    """A deployment limited to one run at a time (ENQUEUE) and a subscriber with room for two:
    its first run RUNNING, the second waiting for the slot. The stream, the first run's
    assignment, the second run's id and its waiting state."""
    pool = unique("pool")
    deployment = await create_deployment(
        channel,
        pool,
        concurrency_limit=1,
        collision_strategy=deployments_pb2.COLLISION_STRATEGY_ENQUEUE,
    )
    stream, _ = await subscribe(channel, pool, slots=2)
    first = await run_deployment(channel, deployment.id)
    assignment = (await next_item(stream)).assignment
    running = await propose(channel, first.id, RUNNING, lease_id=assignment.lease_id)
    assert running.status == ACCEPT
    second = await run_deployment(channel, deployment.id)
    # The limit is reached: the second run waits, rescheduled for later.
    waiting = await _state_named(channel, second.id, "AwaitingConcurrencySlot")
    return stream, assignment, second.id, waiting


@pytest.mark.parametrize(
    "freeing", [COMPLETED, states_pb2.STATE_TYPE_PAUSED], ids=["completed", "paused"]
)
async def test_a_run_waiting_for_a_concurrency_slot_is_pushed_when_the_slot_frees(
    server_settings: ServerSettings, freeing: int
) -> None:
    """The clock stands still: only the freed slot can make the waiting run due."""
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (_, channel):
        stream, assignment, second, waiting = await _one_running_one_waiting(channel)
        freed = await propose(channel, assignment.flow_run.id, freeing, assignment.lease_id)
        assert freed.status == ACCEPT
        pushed = (await next_item(stream)).assignment
        stream.cancel()
    assert waiting.type == states_pb2.STATE_TYPE_SCHEDULED
    assert pushed.flow_run.id == second


async def test_a_slot_freed_by_the_heartbeat_reaper_goes_to_the_waiting_run(
    server_settings: ServerSettings,
) -> None:
    """The holder goes silent and is crashed; the waiting run is pushed long before its own
    time to look again (10 s), which the clock never reaches."""
    clock = ManualClock()
    settings = quiet(
        server_settings, loops_enabled=True, heartbeat_timeout=5.0, heartbeat_reaper_interval=0.05
    )
    async with serving(settings, clock) as (_, channel):
        stream, assignment, second, _ = await _one_running_one_waiting(channel)
        clock.advance(settings.heartbeat_timeout + 1)
        pushed = (await next_item(stream)).assignment
        crashed = await get_run(channel, assignment.flow_run.id)
        stream.cancel()
    assert crashed.state.type == states_pb2.STATE_TYPE_CRASHED
    assert pushed.flow_run.id == second


async def _state_named(channel: grpc.aio.Channel, run_id: str, name: str) -> states_pb2.State:
    """The run's state once it has that name, read from the watch stream."""
    watch = flow_runs_pb2_grpc.FlowRunServiceStub(channel).WatchFlowRuns(
        flow_runs_pb2.WatchFlowRunsRequest(
            filter=flow_runs_pb2.FlowRunFilter(flow_run_ids=[run_id]), include_current=True
        )
    )
    async with asyncio.timeout(5):
        async for change in watch:
            if change.state.name == name:
                watch.cancel()
                return change.state
    raise AssertionError(f"the watch ended before {run_id} was {name}")


async def _create_pool(
    channel: grpc.aio.Channel, limit: int | None = None, queues: dict[str, int | None] | None = None
) -> str:
    """A pool with ``limit`` and queues by name with their limits, priorities 1, 2, ... in order."""
    stub = work_pb2_grpc.WorkServiceStub(channel)
    pool = work_pb2.WorkPool(name=unique("pool"), concurrency_limit=limit)
    await stub.CreateWorkPool(work_pb2.CreateWorkPoolRequest(work_pool=pool))
    for priority, (name, queue_limit) in enumerate((queues or {}).items(), start=1):
        queue = work_pb2.WorkQueue(
            name=name, work_pool_name=pool.name, priority=priority, concurrency_limit=queue_limit
        )
        await stub.CreateWorkQueue(work_pb2.CreateWorkQueueRequest(work_queue=queue))
    return pool.name


async def _pending(channel: grpc.aio.Channel, run_ids: list[str]) -> list[str]:
    runs = [await get_run(channel, run_id) for run_id in run_ids]
    return [run.id for run in runs if run.state.type == PENDING]


async def _finish(channel: grpc.aio.Channel, assignment: work_pb2.RunAssignment) -> None:
    run_id = assignment.flow_run.id
    assert (await propose(channel, run_id, RUNNING, lease_id=assignment.lease_id)).status == ACCEPT
    assert (await propose(channel, run_id, COMPLETED, assignment.lease_id)).status == ACCEPT


async def test_a_queue_with_a_lower_priority_number_is_served_first(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (server, channel):
        stub = work_pb2_grpc.WorkServiceStub(channel)
        pool = await _create_pool(channel)
        for name, priority in (("urgent", 1), ("bulk", 5)):
            queue = work_pb2.WorkQueue(name=name, work_pool_name=pool, priority=priority)
            await stub.CreateWorkQueue(work_pb2.CreateWorkQueueRequest(work_queue=queue))
        urgent = await create_deployment(channel, pool, work_queue_name="urgent")
        bulk = await create_deployment(channel, pool, work_queue_name="bulk")
        now = server.context.clock.now()
        await run_deployment(channel, bulk.id, at=now - timedelta(seconds=60))
        wanted = await run_deployment(channel, urgent.id, at=now - timedelta(seconds=30))
        stream, _ = await subscribe(channel, pool, slots=1)
        item = await next_item(stream)
        stream.cancel()
    assert item.assignment.flow_run.id == wanted.id


async def test_a_pool_limit_holds_and_an_ended_run_makes_room_at_once(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = await _create_pool(channel, limit=1)
        deployment = await create_deployment(channel, pool)
        runs = [(await run_deployment(channel, deployment.id)).id for _ in range(3)]
        stream, _ = await subscribe(channel, pool, slots=3)
        first = (await next_item(stream)).assignment
        # The claim that found the first run would have taken the others with it.
        pending_with_first = await _pending(channel, runs)
        await _finish(channel, first)
        second = (await next_item(stream)).assignment
        pending_with_second = await _pending(channel, runs)
        stream.cancel()
    assert pending_with_first == [first.flow_run.id]
    assert second.flow_run.id != first.flow_run.id
    assert pending_with_second == [second.flow_run.id]


async def test_a_queue_limit_holds_while_the_pools_other_queue_flows(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = await _create_pool(channel, queues={"limited": 1, "open": None})
        limited = await create_deployment(channel, pool, work_queue_name="limited")
        unlimited = await create_deployment(channel, pool, work_queue_name="open")
        held_back = [(await run_deployment(channel, limited.id)).id for _ in range(3)]
        flowing = [(await run_deployment(channel, unlimited.id)).id for _ in range(3)]
        stream, _ = await subscribe(channel, pool, slots=10)
        items = [(await next_item(stream)).assignment for _ in range(4)]
        pending_limited = await _pending(channel, held_back)
        pending_open = await _pending(channel, flowing)
        first = next(a for a in items if a.flow_run.id in held_back)
        await _finish(channel, first)
        second = (await next_item(stream)).assignment
        stream.cancel()
    assert sorted(a.flow_run.id for a in items if a.flow_run.id in flowing) == sorted(flowing)
    assert pending_limited == [first.flow_run.id]
    assert sorted(pending_open) == sorted(flowing)
    assert second.flow_run.id in held_back
    assert second.flow_run.id != first.flow_run.id


async def _update_pool(channel: grpc.aio.Channel, paths: list[str], **fields: Any) -> None:
    await work_pb2_grpc.WorkServiceStub(channel).UpdateWorkPool(
        work_pb2.UpdateWorkPoolRequest(
            work_pool=work_pb2.WorkPool(**fields),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        )
    )


async def _barrier(channel: grpc.aio.Channel, pool: str) -> tuple[Any, str]:
    """A subscriber and deployment on a pool whose name sorts after ``pool``.

    The one delivery task serves marked pools in name order, within a pass or in later
    passes: once a run made due after a run of ``pool`` reaches this subscriber, the claim
    that could have taken the run of ``pool`` has been made.
    """
    barrier = f"{pool}-z"
    stream, _ = await subscribe(channel, barrier, slots=1)
    deployment = await create_deployment(channel, barrier)
    return stream, deployment.id


async def test_a_paused_pool_hands_out_nothing_and_resuming_it_pushes_at_once(
    server_settings: ServerSettings,
) -> None:
    """No sweep: only the update can make the server look at the pool again."""
    async with serving(quiet(server_settings)) as (_, channel):
        stub = work_pb2_grpc.WorkServiceStub(channel)
        pool = unique("pool")
        paused = work_pb2.WorkPool(name=pool, paused=True)
        await stub.CreateWorkPool(work_pb2.CreateWorkPoolRequest(work_pool=paused))
        deployment = await create_deployment(channel, pool)
        stream, _ = await subscribe(channel, pool, slots=1)
        barrier_stream, barrier_deployment = await _barrier(channel, pool)
        run = await run_deployment(channel, deployment.id)
        await run_deployment(channel, barrier_deployment)
        await next_item(barrier_stream)
        held = await get_run(channel, run.id)
        await _update_pool(channel, ["paused"], name=pool, paused=False)
        item = (await next_item(stream)).assignment
        stream.cancel()
        barrier_stream.cancel()
    assert held.state.type == states_pb2.STATE_TYPE_SCHEDULED
    assert item.flow_run.id == run.id
    assert item.attempt == 1


async def test_raising_a_pool_limit_pushes_a_held_run_at_once(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = await _create_pool(channel, limit=1)
        deployment = await create_deployment(channel, pool)
        runs = [(await run_deployment(channel, deployment.id)).id for _ in range(2)]
        stream, _ = await subscribe(channel, pool, slots=2)
        barrier_stream, barrier_deployment = await _barrier(channel, pool)
        first = (await next_item(stream)).assignment
        await run_deployment(channel, barrier_deployment)
        await next_item(barrier_stream)
        pending_with_first = await _pending(channel, runs)
        await _update_pool(channel, ["concurrency_limit"], name=pool, concurrency_limit=2)
        second = (await next_item(stream)).assignment
        pending_with_both = await _pending(channel, runs)
        stream.cancel()
        barrier_stream.cancel()
    assert pending_with_first == [first.flow_run.id]
    assert {first.flow_run.id, second.flow_run.id} == set(runs)
    assert sorted(pending_with_both) == sorted(runs)


async def test_resuming_a_paused_queue_pushes_its_runs_at_once(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        stub = work_pb2_grpc.WorkServiceStub(channel)
        pool = await _create_pool(channel)
        queue = work_pb2.WorkQueue(name="held", work_pool_name=pool, paused=True)
        await stub.CreateWorkQueue(work_pb2.CreateWorkQueueRequest(work_queue=queue))
        deployment = await create_deployment(channel, pool, work_queue_name="held")
        stream, _ = await subscribe(channel, pool, slots=1)
        barrier_stream, barrier_deployment = await _barrier(channel, pool)
        run = await run_deployment(channel, deployment.id)
        await run_deployment(channel, barrier_deployment)
        await next_item(barrier_stream)
        held = await get_run(channel, run.id)
        await stub.UpdateWorkQueue(
            work_pb2.UpdateWorkQueueRequest(
                work_queue=work_pb2.WorkQueue(name="held", work_pool_name=pool, paused=False),
                update_mask=field_mask_pb2.FieldMask(paths=["paused"]),
            )
        )
        item = (await next_item(stream)).assignment
        stream.cancel()
        barrier_stream.cancel()
    assert held.state.type == states_pb2.STATE_TYPE_SCHEDULED
    assert item.flow_run.id == run.id


class _EarlyTimer(ManualClock):
    """After ``fire_early``, one reading just before ``due``, then every reading after it:
    a timer that fires a hair early, and a pass that runs on past the due time."""

    def __init__(self) -> None:
        super().__init__()
        self._early: datetime | None = None

    def fire_early(self, due: datetime) -> None:
        self._early = due - timedelta(microseconds=1)
        self.value = due + timedelta(milliseconds=1)

    def now(self) -> datetime:
        early, self._early = self._early, None
        return early or self.value


async def test_a_run_due_between_a_timer_and_its_pass_is_still_claimed(
    server_settings: ServerSettings,
) -> None:
    clock = _EarlyTimer()
    async with serving(quiet(server_settings), clock) as (server, channel):
        dispatcher = server.context.background.dispatcher
        pool = unique("pool")
        deployment = await create_deployment(channel, pool)
        stream, _ = await subscribe(channel, pool, slots=1)
        due = clock.now() + timedelta(seconds=60)
        run = await run_deployment(channel, deployment.id, at=due)
        for _ in range(500):  # the pass that sets the timer, within a deadline
            if dispatcher.next_due == due:
                break
            await asyncio.sleep(0.01)
        assert dispatcher.next_due == due
        clock.fire_early(due)
        dispatcher.notify_slots_freed()  # a wake that marks no pool
        item = await next_item(stream)
        stream.cancel()
    assert item.assignment.flow_run.id == run.id
