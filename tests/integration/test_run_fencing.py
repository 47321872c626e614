"""Fencing at the protocol level, with raw stubs as a worker in any language calls them.

A run handed out by the work stream is fenced by its lease from the claim to the end of the
attempt, forced proposals included; a run in a final state moves only by a retry.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from delivery_support import (
    ManualClock,
    create_deployment,
    get_run,
    history,
    next_item,
    propose,
    quiet,
    run_deployment,
    serving,
    subscribe,
    unique,
)

from runplane.server import RunplaneServer, ServerSettings
from runplane.v1 import states_pb2, work_pb2, work_pb2_grpc

pytestmark = pytest.mark.anyio

SCHEDULED = states_pb2.STATE_TYPE_SCHEDULED
PENDING = states_pb2.STATE_TYPE_PENDING
RUNNING = states_pb2.STATE_TYPE_RUNNING
COMPLETED = states_pb2.STATE_TYPE_COMPLETED
FAILED = states_pb2.STATE_TYPE_FAILED
CANCELLED = states_pb2.STATE_TYPE_CANCELLED
CRASHED = states_pb2.STATE_TYPE_CRASHED
PAUSED = states_pb2.STATE_TYPE_PAUSED
CANCELLING = states_pb2.STATE_TYPE_CANCELLING
ACCEPT = states_pb2.ORCHESTRATION_STATUS_ACCEPT
REJECT = states_pb2.ORCHESTRATION_STATUS_REJECT
ABORT = states_pb2.ORCHESTRATION_STATUS_ABORT

STALE = "stale or foreign"
MISSING = "present its lease"


@dataclass
class Handover:
    """A run that a first worker got under `first` and, once that lease expired, a second
    worker got under `second` and started."""

    run_id: str
    pool: str
    first: str
    second: str
    second_runner: str
    streams: list[Any]


async def _handed_over(
    server: RunplaneServer, channel: grpc.aio.Channel, clock: ManualClock
) -> Handover:
    pool = unique("pool")
    deployment = await create_deployment(channel, pool)
    first_stream, _ = await subscribe(channel, pool, slots=1)
    run = await run_deployment(channel, deployment.id)
    first = (await next_item(first_stream)).assignment
    second_runner = unique("runner")
    second_stream, _ = await subscribe(channel, pool, slots=1, runner=second_runner)
    # The first worker goes silent: its lease expires and the reaper gives the run back.
    clock.advance(server.context.settings.work_lease_seconds + 1)
    for name in await server.context.background.reapers.expire_leases():
        server.context.background.dispatcher.notify_work(name)
    second = (await next_item(second_stream)).assignment
    assert (second.flow_run.id, second.attempt) == (run.id, 2)
    started = await propose(channel, run.id, RUNNING, lease_id=second.lease_id)
    assert started.status == ACCEPT
    return Handover(
        run.id,
        pool,
        first.lease_id,
        second.lease_id,
        second_runner,
        [first_stream, second_stream],
    )


async def _next_assignment(streams: list[Any]) -> work_pb2.RunAssignment:
    """The first assignment pushed on any of ``streams``."""
    reads = [asyncio.ensure_future(next_item(stream)) for stream in streams]
    done, pending = await asyncio.wait(reads, return_when=asyncio.FIRST_COMPLETED)
    for read in pending:
        read.cancel()
    return next(iter(done)).result().assignment


def _close(handover: Handover) -> None:
    for stream in handover.streams:
        stream.cancel()


def _leases(states: list[states_pb2.State], state_type: int) -> list[str]:
    return [s.details.lease_id for s in states if s.type == state_type]


async def test_a_stale_missing_or_random_lease_cannot_move_a_running_run(
    server_settings: ServerSettings,
) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        handover = await _handed_over(server, channel, clock)
        run_id = handover.run_id
        stale_running = await propose(channel, run_id, RUNNING, lease_id=handover.first)
        missing_running = await propose(channel, run_id, RUNNING)
        random_running = await propose(channel, run_id, RUNNING, lease_id=str(uuid.uuid4()))
        stale_completed = await propose(channel, run_id, COMPLETED, lease_id=handover.first)
        still = await get_run(channel, run_id)
        completed = await propose(channel, run_id, COMPLETED, lease_id=handover.second)
        states = await history(channel, run_id)
        _close(handover)
    for refused in (stale_running, random_running, stale_completed):
        assert refused.status == ABORT
        assert STALE in refused.reason
    assert missing_running.status == ABORT
    assert MISSING in missing_running.reason
    assert (still.state.type, still.state.details.lease_id) == (RUNNING, handover.second)
    assert completed.status == ACCEPT
    assert [s.type for s in states] == [SCHEDULED, PENDING, SCHEDULED, PENDING, RUNNING, COMPLETED]
    # One lease per attempt: the first hand-out's, then the second's to the end.
    assert _leases(states, PENDING) == [handover.first, handover.second]
    assert _leases(states, RUNNING) == [handover.second]
    assert _leases(states, COMPLETED) == [handover.second]


async def test_a_forced_proposal_is_lease_checked(server_settings: ServerSettings) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        handover = await _handed_over(server, channel, clock)
        run_id = handover.run_id
        random = await propose(channel, run_id, CRASHED, lease_id=str(uuid.uuid4()), force=True)
        stale = await propose(channel, run_id, CRASHED, lease_id=handover.first, force=True)
        missing = await propose(channel, run_id, CRASHED, force=True)
        still = await get_run(channel, run_id)
        crashed = await propose(channel, run_id, CRASHED, lease_id=handover.second, force=True)
        _close(handover)
    assert (random.status, stale.status, missing.status) == (ABORT, ABORT, ABORT)
    assert STALE in random.reason
    assert STALE in stale.reason
    assert MISSING in missing.reason
    assert still.state.type == RUNNING
    assert crashed.status == ACCEPT


async def test_anyone_may_cancel_or_resume_but_only_the_holder_ends_the_run(
    server_settings: ServerSettings,
) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        handover = await _handed_over(server, channel, clock)
        run_id, lease = handover.run_id, handover.second
        paused_without = await propose(channel, run_id, PAUSED)
        paused = await propose(channel, run_id, PAUSED, lease_id=lease)
        resumed = await propose(channel, run_id, RUNNING)  # an operator resumes the pause
        cancelling = await propose(channel, run_id, CANCELLING)  # an operator cancels
        cancelled_without = await propose(channel, run_id, CANCELLED, force=True)
        cancelled = await propose(channel, run_id, CANCELLED, lease_id=lease, force=True)
        _close(handover)
    assert paused_without.status == ABORT
    assert MISSING in paused_without.reason
    assert (paused.status, resumed.status, cancelling.status) == (ACCEPT, ACCEPT, ACCEPT)
    assert cancelled_without.status == ABORT
    assert cancelled.status == ACCEPT


async def test_a_reschedule_makes_the_old_lease_stale(server_settings: ServerSettings) -> None:
    """A worker that shuts down gives a running run back; its lease fences nothing after."""
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        handover = await _handed_over(server, channel, clock)
        run_id, lease = handover.run_id, handover.second
        rescheduled = await propose(
            channel, run_id, SCHEDULED, lease_id=lease, force=True, name="Rescheduled"
        )
        late_start = await propose(channel, run_id, RUNNING, lease_id=lease)
        late_crash = await propose(channel, run_id, CRASHED, lease_id=lease, force=True)
        after = await get_run(channel, run_id)
        _close(handover)
    assert rescheduled.status == ACCEPT
    assert (late_start.status, late_crash.status) == (ABORT, ABORT)
    assert STALE in late_start.reason
    # Due at once, the run may already be handed to a worker with room: under a new lease.
    if after.state.type == PENDING:
        assert after.state.details.lease_id not in ("", lease)
    else:
        assert (after.state.type, after.state.name) == (SCHEDULED, "Rescheduled")


async def test_a_running_run_is_heartbeated_and_adopted_under_its_lease(
    server_settings: ServerSettings,
) -> None:
    """The lease stays during RUNNING: heartbeats extend it and a new subscription that holds
    it receives the run's cancellation."""
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        handover = await _handed_over(server, channel, clock)
        run_id, lease = handover.run_id, handover.second
        stub = work_pb2_grpc.WorkServiceStub(channel)
        # The second worker reconnects and says which lease it holds.
        stream = stub.SubscribeWork(
            work_pb2.SubscribeWorkRequest(
                work_pool_name=handover.pool,
                runner_name=handover.second_runner,
                free_slots=1,
                held_lease_ids=[lease],
            )
        )
        started = (await stream.read()).started
        beat = await stub.Heartbeat(
            work_pb2.HeartbeatRequest(
                runner_id=started.runner_id,
                session_id=started.session_id,
                running_flow_run_ids=[run_id],
                free_slots=0,
            )
        )
        await propose(channel, run_id, CANCELLING)
        item = await next_item(stream)
        stream.cancel()
        _close(handover)
    assert run_id not in beat.unknown_flow_run_ids
    assert item.WhichOneof("item") == "cancel"
    assert item.cancel.flow_run_id == run_id


async def test_a_finished_run_stays_finished(server_settings: ServerSettings) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        handover = await _handed_over(server, channel, clock)
        run_id, lease = handover.run_id, handover.second
        last = str(uuid.uuid4())
        done = await propose(channel, run_id, COMPLETED, lease_id=lease, transition_id=last)
        before = await history(channel, run_id)
        refused = [
            await propose(channel, run_id, COMPLETED, lease_id=lease),
            await propose(channel, run_id, COMPLETED),
            await propose(channel, run_id, FAILED, lease_id=lease),
            await propose(channel, run_id, RUNNING, lease_id=lease),
            await propose(channel, run_id, RUNNING),
            await propose(channel, run_id, CRASHED, lease_id=str(uuid.uuid4()), force=True),
            await propose(channel, run_id, CRASHED, force=True),
            await propose(channel, run_id, SCHEDULED, force=True),
        ]
        repeated = await propose(channel, run_id, COMPLETED, lease_id=lease, transition_id=last)
        after = await history(channel, run_id)
        _close(handover)
    assert done.status == ACCEPT
    for answer in refused:
        assert answer.status == ABORT
        assert answer.state.type == COMPLETED
    assert "finished run only moves by a retry" in refused[-1].reason
    assert (repeated.status, repeated.state.id) == (done.status, done.state.id)
    assert [s.id for s in after] == [s.id for s in before]


async def test_a_retry_starts_a_new_attempt_under_a_new_lease(
    server_settings: ServerSettings,
) -> None:
    """What `runplane flow-run retry` proposes: the only way out of a final state."""
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        handover = await _handed_over(server, channel, clock)
        run_id, lease = handover.run_id, handover.second
        await propose(channel, run_id, FAILED, lease_id=lease)
        retried = await propose(
            channel, run_id, SCHEDULED, name="AwaitingRetry", message="retried from the CLI"
        )
        # Both workers have a free slot again (the run they held ended): either may get it.
        third = await _next_assignment(handover.streams)
        old_start = await propose(channel, run_id, RUNNING, lease_id=lease)
        started = await propose(channel, run_id, RUNNING, lease_id=third.lease_id)
        states = await history(channel, run_id)
        _close(handover)
    assert retried.status == ACCEPT
    assert (third.flow_run.id, third.attempt) == (run_id, 3)
    assert old_start.status == ABORT
    assert STALE in old_start.reason
    assert started.status == ACCEPT
    assert [(s.type, s.name) for s in states[-5:]] == [
        (RUNNING, "Running"),
        (FAILED, "Failed"),
        (SCHEDULED, "AwaitingRetry"),
        (PENDING, "Pending"),
        (RUNNING, "Running"),
    ]
    assert states[-3].message == "retried from the CLI"
    assert _leases(states, RUNNING) == [lease, third.lease_id]
