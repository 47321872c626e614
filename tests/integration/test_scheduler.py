"""The scheduler through real servers: schedules, catch-up, pauses, and no duplicates."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from delivery_support import (
    ManualClock,
    create_deployment,
    propose,
    quiet,
    serving,
    unique,
)
from google.protobuf import duration_pb2, field_mask_pb2

from runplane.server import RunplaneServer, ServerSettings, create_server
from runplane.server.db.tables import flow_run
from runplane.v1 import deployments_pb2, deployments_pb2_grpc, states_pb2

pytestmark = pytest.mark.anyio

SKIP_MISSED = deployments_pb2.CATCHUP_POLICY_SKIP_MISSED
ALL = deployments_pb2.CATCHUP_POLICY_ALL


def _every(seconds: int, catchup: int = ALL) -> deployments_pb2.DeploymentSchedule:
    return deployments_pb2.DeploymentSchedule(
        active=True,
        catchup=catchup,  # type: ignore[arg-type]
        interval=deployments_pb2.IntervalSchedule(interval=duration_pb2.Duration(seconds=seconds)),
    )


def _cron(expression: str, catchup: int = ALL) -> deployments_pb2.DeploymentSchedule:
    return deployments_pb2.DeploymentSchedule(
        active=True,
        catchup=catchup,  # type: ignore[arg-type]
        cron=deployments_pb2.CronSchedule(expression=expression, timezone="Europe/Berlin"),
    )


async def _times(server: RunplaneServer, deployment_id: str) -> list[datetime]:
    query = (
        sa.select(flow_run.c.expected_start_time)
        .where(flow_run.c.deployment_id == uuid.UUID(deployment_id))
        .order_by(flow_run.c.expected_start_time)
    )
    async with server.context.database.read() as conn:
        return list((await conn.execute(query)).scalars())


async def test_a_schedule_is_created_ahead_once(server_settings: ServerSettings) -> None:
    async with serving(quiet(server_settings)) as (server, channel):
        deployment = await create_deployment(channel, unique("pool"), [_every(600)])
        created = await _times(server, deployment.id)
        for _ in range(3):
            await server.context.background.scheduler.run_once()
        again = await _times(server, deployment.id)
    # Every 10 minutes for at least an hour: 7 runs, the first one now.
    assert len(created) == 7
    assert again == created
    assert len(set(again)) == len(again)


async def test_two_servers_on_one_database_schedule_each_slot_once(
    server_settings: ServerSettings,
) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        deployment = await create_deployment(channel, unique("pool"), [_cron("*/5 * * * *")])
        async with await create_server(quiet(server_settings), clock=clock) as other:
            clock.advance(2 * 3600)
            await asyncio.gather(
                *(s.context.background.scheduler.run_once() for s in (server, other, server))
            )
            times = await _times(server, deployment.id)
    assert len(times) == len(set(times))
    assert len(times) >= 12 + 24


async def test_a_paused_deployment_schedules_nothing(server_settings: ServerSettings) -> None:
    async with serving(quiet(server_settings)) as (server, channel):
        deployment = await create_deployment(channel, unique("pool"), [_every(60)], paused=True)
        await server.context.background.scheduler.run_once()
        assert await _times(server, deployment.id) == []


async def test_a_schedule_change_replaces_the_future_runs(server_settings: ServerSettings) -> None:
    async with serving(quiet(server_settings)) as (server, channel):
        deployment = await create_deployment(channel, unique("pool"), [_every(600)])
        stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
        changed = deployments_pb2.Deployment(id=deployment.id, schedules=[_every(1800)])
        await stub.UpdateDeployment(
            deployments_pb2.UpdateDeploymentRequest(
                deployment=changed, update_mask=field_mask_pb2.FieldMask(paths=["schedules"])
            )
        )
        times = await _times(server, deployment.id)
        paused = deployments_pb2.Deployment(id=deployment.id, paused=True)
        await stub.UpdateDeployment(
            deployments_pb2.UpdateDeploymentRequest(
                deployment=paused, update_mask=field_mask_pb2.FieldMask(paths=["paused"])
            )
        )
        after_pause = await _times(server, deployment.id)
    # The first run was due at once and stays; the ones ahead follow the new schedule.
    due, ahead = times[0], times[1:]
    assert len(ahead) == 3
    assert all((b - a).total_seconds() == 1800 for a, b in itertools.pairwise(ahead))
    assert after_pause == [due]


@pytest.mark.parametrize(("catchup", "missed"), [(ALL, 24), (SKIP_MISSED, 0)])
async def test_catch_up_after_an_outage(
    server_settings: ServerSettings, catchup: int, missed: int
) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        deployment = await create_deployment(
            channel, unique("pool"), [_cron("*/5 * * * *", catchup)]
        )
        horizon_end = (await _times(server, deployment.id))[-1]
        clock.advance(3 * 3600)  # two hours past the last scheduled run
        await server.context.background.scheduler.run_once()
        times = await _times(server, deployment.id)
    now = clock.now()
    gap = [t for t in times if horizon_end < t < now]
    assert len(gap) == missed
    assert any(t >= now for t in times)


@pytest.mark.parametrize(
    ("catchup", "kept"),
    [(ALL, "all"), (SKIP_MISSED, "none"), (deployments_pb2.CATCHUP_POLICY_LATEST_ONLY, "latest")],
)
async def test_runs_created_ahead_that_missed_their_time_follow_the_catch_up_policy(
    server_settings: ServerSettings, catchup: int, kept: str
) -> None:
    """An outage shorter than the horizon: the runs were created before it and are stale."""
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        deployment = await create_deployment(
            channel, unique("pool"), [_cron("*/5 * * * *", catchup)]
        )
        # Land midway between two cron times, so the newest past run is well beyond the
        # late grace whatever the wall clock said when the test started.
        target = clock.now() + timedelta(minutes=20)
        target -= timedelta(minutes=target.minute % 5, seconds=target.second - 150)
        clock.advance((target - clock.now()).total_seconds())
        await server.context.background.scheduler.run_once()
        query = (
            sa.select(flow_run.c.expected_start_time, flow_run.c.state_type)
            .where(flow_run.c.deployment_id == uuid.UUID(deployment.id))
            .order_by(flow_run.c.expected_start_time)
        )
        async with server.context.database.read() as conn:
            runs = (await conn.execute(query)).all()
    now = clock.now()
    past = [state for time, state in runs if time < now]
    ahead = [state for time, state in runs if time >= now]
    scheduled, cancelled = states_pb2.STATE_TYPE_SCHEDULED, states_pb2.STATE_TYPE_CANCELLED
    assert len(past) >= 4
    assert set(ahead) == {scheduled}
    expected = {
        "all": [scheduled] * len(past),
        "none": [cancelled] * len(past),
        "latest": [cancelled] * (len(past) - 1) + [scheduled],
    }[kept]
    assert past == expected


async def _runs(server: RunplaneServer, deployment_id: str) -> list[tuple[datetime, int, str]]:
    """(scheduled time, state type, id) of the deployment's runs, by time."""
    query = (
        sa.select(flow_run.c.expected_start_time, flow_run.c.state_type, flow_run.c.id)
        .where(flow_run.c.deployment_id == uuid.UUID(deployment_id))
        .order_by(flow_run.c.expected_start_time)
    )
    async with server.context.database.read() as conn:
        return [(time, state, str(run_id)) for time, state, run_id in await conn.execute(query)]


async def _set_paused(channel: grpc.aio.Channel, deployment_id: str, paused: bool) -> None:
    stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
    await stub.UpdateDeployment(
        deployments_pb2.UpdateDeploymentRequest(
            deployment=deployments_pb2.Deployment(id=deployment_id, paused=paused),
            update_mask=field_mask_pb2.FieldMask(paths=["paused"]),
        )
    )


@pytest.mark.parametrize("paused_minutes", [1, 45])
async def test_resuming_creates_every_fire_time_without_a_run(
    server_settings: ServerSettings, paused_minutes: int
) -> None:
    """A run cancelled ahead survives the pause; the fire times before it get runs again,
    including the ones that passed during the pause (catch-up all), and it keeps its one run."""
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        deployment = await create_deployment(channel, unique("pool"), [_every(600)])
        created = await _runs(server, deployment.id)
        cancelled_time, _, cancelled_id = created[4]
        result = await propose(channel, cancelled_id, states_pb2.STATE_TYPE_CANCELLING)
        assert result.state.type == states_pb2.STATE_TYPE_CANCELLED
        await _set_paused(channel, deployment.id, True)
        clock.advance(paused_minutes * 60)
        await _set_paused(channel, deployment.id, False)
        await server.context.background.scheduler.run_once()
        runs = await _runs(server, deployment.id)
    times = [time for time, _, _ in runs]
    assert len(times) == len(set(times))
    assert {time for time, _, _ in created} <= set(times)
    assert [(state, run_id) for time, state, run_id in runs if time == cancelled_time] == [
        (states_pb2.STATE_TYPE_CANCELLED, cancelled_id)
    ]
    others = {state for time, state, _ in runs if time != cancelled_time}
    assert others == {states_pb2.STATE_TYPE_SCHEDULED}
