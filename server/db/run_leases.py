"""Queries on the runs that runners hold: heartbeats and assignment leases."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.records import _FromRow
from runplane.server.db.tables import flow_run
from runplane.server.orchestration.states import StateType

# The states in which a runner holds a run's process.
HELD_TYPES = (StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING)


@dataclass(frozen=True, slots=True)
class HeldRun(_FromRow):
    id: uuid.UUID
    state_type: int | None


@dataclass(frozen=True, slots=True)
class LeasedRun(_FromRow):
    id: uuid.UUID
    state_type: int | None
    state_timestamp: datetime | None
    lease_id: uuid.UUID | None
    work_pool_name: str | None


async def heartbeat(
    conn: AsyncConnection,
    run_ids: Sequence[uuid.UUID],
    now: datetime,
    lease_expire_time: datetime,
) -> list[HeldRun]:
    """Records a heartbeat on the listed runs that a runner may hold and extends their leases;
    returns the current state of every listed run that exists."""
    if not run_ids:
        return []
    # Locked in id order, as state changes lock them, so that the two cannot deadlock.
    held = (
        sa.select(flow_run.c.id)
        .where(flow_run.c.id.in_(run_ids), flow_run.c.state_type.in_(HELD_TYPES))
        .order_by(flow_run.c.id)
        .with_for_update()
    )
    await conn.execute(
        sa.update(flow_run)
        .where(flow_run.c.id.in_(held.scalar_subquery()))
        .values(
            heartbeat_time=now,
            lease_expire_time=sa.case(
                (flow_run.c.lease_id.is_not(None), lease_expire_time),
                else_=flow_run.c.lease_expire_time,
            ),
        )
    )
    query = sa.select(flow_run.c.id, flow_run.c.state_type).where(flow_run.c.id.in_(run_ids))
    return [HeldRun.from_row(row) for row in await conn.execute(query)]


async def lock(conn: AsyncConnection, run_id: uuid.UUID) -> LeasedRun | None:
    """The run's state and lease, its row locked until the transaction ends."""
    query = (
        sa.select(
            flow_run.c.id,
            flow_run.c.state_type,
            flow_run.c.state_timestamp,
            flow_run.c.lease_id,
            flow_run.c.work_pool_name,
        )
        .where(flow_run.c.id == run_id)
        .with_for_update()
    )
    row = (await conn.execute(query)).first()
    return LeasedRun.from_row(row) if row else None
