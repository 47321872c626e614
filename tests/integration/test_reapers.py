"""The late marker and the reapers, driven by a settable clock through real servers."""

from __future__ import annotations

import uuid

import grpc
import pytest
import sqlalchemy as sa
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

from runplane.server import ServerSettings
from runplane.server.db.tables import flow_run
from runplane.v1 import flow_runs_pb2, flow_runs_pb2_grpc, flows_pb2, flows_pb2_grpc, states_pb2

pytestmark = pytest.mark.anyio

RUNNING = states_pb2.STATE_TYPE_RUNNING


async def test_a_late_run_says_no_runner_is_subscribed(server_settings: ServerSettings) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        pool = unique("pool")
        run = await run_deployment(channel, (await create_deployment(channel, pool)).id)
        clock.advance(server_settings.late_after + 1)
        await server.context.background.late_marker.run_once()
        late = await get_run(channel, run.id)
    assert late.state.type == states_pb2.STATE_TYPE_SCHEDULED
    assert late.state.name == "Late"
    assert f"no runner is subscribed to work pool {pool!r}" in late.state.message


async def _running(server: object, channel: object, clock: ManualClock, retries: int) -> str:
    pool = unique("pool")
    stream, _ = await subscribe(channel, pool, slots=1)  # type: ignore[arg-type]
    run = await run_deployment(channel, (await create_deployment(channel, pool)).id)  # type: ignore[arg-type]
    assignment = (await next_item(stream)).assignment
    await propose(channel, run.id, RUNNING, lease_id=assignment.lease_id)  # type: ignore[arg-type]
    stream.cancel()
    database = server.context.database  # type: ignore[attr-defined]
    async with database.write() as conn:
        await conn.execute(
            sa.update(flow_run).where(flow_run.c.id == uuid.UUID(run.id)).values(retries=retries)
        )
    return run.id


@pytest.mark.parametrize(("retries", "state_name"), [(0, "Crashed"), (1, "AwaitingRetry")])
async def test_a_silent_run_crashes_or_is_retried(
    server_settings: ServerSettings, retries: int, state_name: str
) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        run_id = await _running(server, channel, clock, retries)
        await server.context.background.reapers.crash_silent_runs()
        untouched = await get_run(channel, run_id)
        clock.advance(server_settings.heartbeat_timeout + 1)
        await server.context.background.reapers.crash_silent_runs()
        reaped = await get_run(channel, run_id)
    assert untouched.state.type == RUNNING
    assert reaped.state.name == state_name
    assert "no heartbeat" in reaped.state.message


async def test_a_silent_paused_run_crashes(server_settings: ServerSettings) -> None:
    """A paused run's process waits alive and heartbeats; silence means it died."""
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        run_id = await _running(server, channel, clock, retries=0)
        lease = (await get_run(channel, run_id)).state.details.lease_id
        paused = await propose(channel, run_id, states_pb2.STATE_TYPE_PAUSED, lease)
        clock.advance(server_settings.heartbeat_timeout + 1)
        await server.context.background.reapers.crash_silent_runs()
        reaped = await get_run(channel, run_id)
    assert paused.state.type == states_pb2.STATE_TYPE_PAUSED
    assert reaped.state.type == states_pb2.STATE_TYPE_CRASHED
    assert "no heartbeat" in reaped.state.message


async def _ad_hoc_running(channel: grpc.aio.Channel, expect_heartbeats: bool) -> str:
    """A run created RUNNING by its own process, as the engine creates a flow called directly."""
    flows = flows_pb2_grpc.FlowServiceStub(channel)
    flow = (await flows.CreateFlow(flows_pb2.CreateFlowRequest(name=unique("flow")))).flow
    request = flow_runs_pb2.CreateFlowRunRequest(
        flow_id=flow.id,
        state=states_pb2.State(type=RUNNING),
        expect_heartbeats=expect_heartbeats,
    )
    runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    return (await runs.CreateFlowRun(request)).flow_run.id


@pytest.mark.parametrize(
    ("expect_heartbeats", "state_name"), [(True, "Crashed"), (False, "Running")]
)
async def test_a_run_created_expecting_heartbeats_is_watched_from_its_creation(
    server_settings: ServerSettings, expect_heartbeats: bool, state_name: str
) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        run_id = await _ad_hoc_running(channel, expect_heartbeats)
        clock.advance(server_settings.heartbeat_timeout + 1)
        await server.context.background.reapers.crash_silent_runs()
        reaped = await get_run(channel, run_id)
    assert reaped.state.name == state_name


async def test_a_run_that_starts_again_gets_the_whole_timeout(
    server_settings: ServerSettings,
) -> None:
    clock = ManualClock()
    timeout = server_settings.heartbeat_timeout
    async with serving(quiet(server_settings), clock) as (server, channel):
        run_id = await _ad_hoc_running(channel, expect_heartbeats=True)
        await propose(channel, run_id, states_pb2.STATE_TYPE_SCHEDULED, force=True)
        clock.advance(timeout + 1)  # a retry's wait: no heartbeats are due meanwhile
        await propose(channel, run_id, RUNNING)
        clock.advance(timeout - 1)
        await server.context.background.reapers.crash_silent_runs()
        running = await get_run(channel, run_id)
        clock.advance(2)
        await server.context.background.reapers.crash_silent_runs()
        reaped = await get_run(channel, run_id)
    assert running.state.type == RUNNING
    assert reaped.state.type == states_pb2.STATE_TYPE_CRASHED


async def test_a_run_cancelling_too_long_ends_cancelled(server_settings: ServerSettings) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        run_id = await _running(server, channel, clock, 0)
        await propose(channel, run_id, states_pb2.STATE_TYPE_CANCELLING)
        clock.advance(server_settings.cancellation_timeout + 1)
        await server.context.background.reapers.finish_cancellations()
        cancelled = await get_run(channel, run_id)
    assert cancelled.state.type == states_pb2.STATE_TYPE_CANCELLED
