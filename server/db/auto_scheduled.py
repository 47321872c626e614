"""Queries for the runs that deployment schedules create.

Each such run's idempotency key is ``scheduled/<deployment>/<schedule hash>/<time>``: the
flow's unique (flow, idempotency key) index makes (deployment, schedule definition, time)
unique in the database, so no server, pass or race can create one slot twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from runplane.server.db import held_runs
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.held_runs import HeldRun
from runplane.server.db.scheduled_runs import SCHEDULED_NAME
from runplane.server.db.tables import deployment, deployment_schedule, flow_run
from runplane.server.orchestration.states import LATE, StateType

KEY_PREFIX = "scheduled/"
# Missed runs of one schedule handled in one pass; the next pass takes the rest.
MAX_MISSED = 1000
_TICK = timedelta(microseconds=1)


def run_key(deployment_id: uuid.UUID, schedule_hash: str, time: datetime) -> str:
    return f"{KEY_PREFIX}{deployment_id}/{schedule_hash}/{time.isoformat()}"


def _prefix(deployment_id: uuid.UUID, schedule_hash: str = "") -> str:
    return f"{KEY_PREFIX}{deployment_id}/{schedule_hash}"


def _of_schedule(deployment_id: uuid.UUID, schedule_hash: str) -> list[sa.ColumnElement[bool]]:
    return [
        flow_run.c.deployment_id == deployment_id,
        flow_run.c.idempotency_key.startswith(_prefix(deployment_id, schedule_hash) + "/"),
    ]


async def missed_since(
    conn: AsyncConnection, deployment_id: uuid.UUID, schedule_hash: str, now: datetime
) -> datetime | None:
    """Where this schedule definition's missed fire times are counted from; None when it has
    created no run yet (nothing was missed).

    That is the latest time at or before ``now`` it created a run for that was not cancelled:
    a cancelled run may be a survivor of a pause (pausing deletes only runs still SCHEDULED),
    so fire times before it may have no run. Without such a run, it is when the definition
    created its first run. Fire times that have runs are skipped by their keys.
    """
    ours = _of_schedule(deployment_id, schedule_hash)
    due = [*ours, flow_run.c.expected_start_time <= now]
    latest = sa.select(sa.func.max(flow_run.c.expected_start_time))
    value: datetime | None = (
        await conn.execute(latest.where(*due, flow_run.c.state_type != StateType.CANCELLED))
    ).scalar_one_or_none()
    if value is None:
        first = sa.select(sa.func.min(flow_run.c.create_time)).where(*ours)
        created: datetime | None = (await conn.execute(first)).scalar_one_or_none()
        value = None if created is None else created - _TICK
    return value


async def existing_keys(
    conn: AsyncConnection, deployment_id: uuid.UUID, schedule_hash: str, after: datetime
) -> set[str]:
    """The keys of this schedule definition's runs for times after ``after``, in any state."""
    query = sa.select(flow_run.c.idempotency_key).where(
        *_of_schedule(deployment_id, schedule_hash), flow_run.c.expected_start_time > after
    )
    return {key for key in (await conn.execute(query)).scalars() if key is not None}


async def lock_missed(
    conn: AsyncConnection, deployment_id: uuid.UUID, schedule_hash: str, before: datetime
) -> list[HeldRun]:
    """This schedule definition's runs still SCHEDULED for a time before ``before``, locked
    (rows locked elsewhere are skipped: someone is changing them)."""
    where = [
        flow_run.c.deployment_id == deployment_id,
        flow_run.c.state_type == StateType.SCHEDULED,
        # Not a retry or a run waiting for a concurrency slot: those have started already.
        flow_run.c.state_name.in_((SCHEDULED_NAME, LATE)),
        flow_run.c.next_scheduled_start_time < before,
        flow_run.c.idempotency_key.startswith(_prefix(deployment_id, schedule_hash) + "/"),
    ]
    return await held_runs.lock_matching(conn, where, MAX_MISSED)


async def delete_future(conn: AsyncConnection, deployment_id: uuid.UUID, now: datetime) -> int:
    """Deletes the deployment's schedule-created runs that are SCHEDULED for now or later."""
    statement = sa.delete(flow_run).where(
        flow_run.c.deployment_id == deployment_id,
        flow_run.c.state_type == StateType.SCHEDULED,
        flow_run.c.next_scheduled_start_time >= now,
        flow_run.c.idempotency_key.startswith(_prefix(deployment_id)),
    )
    return (await conn.execute(statement)).rowcount


async def lock_deployment(conn: AsyncConnection, deployment_id: uuid.UUID) -> bool:
    """Locks the deployment row against changes; False when another transaction holds it."""
    query = (
        sa.select(deployment.c.id)
        .where(deployment.c.id == deployment_id)
        .with_for_update(skip_locked=True)
    )
    return (await conn.execute(query)).first() is not None


async def scheduled_deployment_ids(
    conn: AsyncConnection, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """Unpaused deployments with an active schedule, by id, after ``after``."""
    query = (
        sa.select(deployment.c.id)
        .where(
            deployment.c.paused.is_(False),
            sa.exists().where(
                deployment_schedule.c.deployment_id == deployment.c.id,
                deployment_schedule.c.active.is_(True),
            ),
        )
        .order_by(deployment.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(deployment.c.id > after)
    return list((await conn.execute(query)).scalars())
