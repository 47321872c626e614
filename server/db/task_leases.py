"""Queries of background task runs: claiming them for a task worker, and their leases."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.run_records import LockedRun
from runplane.server.db.tables import task_run
from runplane.server.db.task_runs import locked_from_row
from runplane.server.orchestration.states import StateType

HELD_TYPES = (StateType.PENDING, StateType.RUNNING, StateType.CANCELLING)
"""A background run in one of these states holds a slot of the worker it was handed to."""


async def held_count(conn: AsyncConnection, worker_id: uuid.UUID) -> int:
    """How many runs handed to the worker are PENDING or RUNNING: its slots in use."""
    query = sa.select(sa.func.count()).where(
        task_run.c.worker_id == worker_id, task_run.c.state_type.in_(HELD_TYPES)
    )
    return int((await conn.execute(query)).scalar_one())


async def lock_waiting(
    conn: AsyncConnection, task_keys: Sequence[str], limit: int
) -> list[LockedRun]:
    """Up to ``limit`` SCHEDULED background runs of these task keys, oldest first, locked.

    Rows another transaction holds are skipped (PostgreSQL), so that two server processes
    claiming at once take different runs; SQLite has one writer and ignores the lock.
    """
    query = (
        sa.select(task_run)
        .where(
            task_run.c.background == sa.true(),  # the claim index's predicate
            task_run.c.state_type == StateType.SCHEDULED,
            task_run.c.task_key.in_(list(task_keys)),
        )
        .order_by(task_run.c.create_time, task_run.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [locked_from_row(row._mapping) for row in await conn.execute(query)]


async def lock_expired(conn: AsyncConnection, now: datetime, limit: int) -> list[LockedRun]:
    """Background runs still PENDING, RUNNING or CANCELLING whose lease expired, locked."""
    query = (
        sa.select(task_run)
        .where(
            task_run.c.lease_expire_time < now,
            task_run.c.background == sa.true(),  # the claim index's predicate
            task_run.c.state_type.in_(HELD_TYPES),
        )
        .order_by(task_run.c.lease_expire_time)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [locked_from_row(row._mapping) for row in await conn.execute(query)]


async def set_lease(
    conn: AsyncConnection,
    run_id: uuid.UUID,
    *,
    lease_id: uuid.UUID,
    lease_expire_time: datetime,
    worker_id: uuid.UUID,
) -> None:
    """Hands the run to a worker under a new lease: one more attempt."""
    await conn.execute(
        sa.update(task_run)
        .where(task_run.c.id == run_id)
        .values(
            lease_id=lease_id,
            lease_expire_time=lease_expire_time,
            worker_id=worker_id,
            attempt=task_run.c.attempt + 1,
        )
    )


async def clear_lease(conn: AsyncConnection, run_id: uuid.UUID) -> None:
    """The run is no one's: a new hand-out gives it a new lease."""
    await conn.execute(
        sa.update(task_run)
        .where(task_run.c.id == run_id)
        .values(lease_id=None, lease_expire_time=None, worker_id=None)
    )


async def extend(
    conn: AsyncConnection,
    worker_id: uuid.UUID,
    run_ids: Sequence[uuid.UUID],
    lease_expire_time: datetime,
) -> dict[uuid.UUID, StateType]:
    """Extends the leases of the worker's runs among ``run_ids`` that it still holds
    (PENDING, RUNNING or CANCELLING under it); returns their state types by id."""
    if not run_ids:
        return {}
    result = await conn.execute(
        sa.update(task_run)
        .where(
            task_run.c.id.in_(list(run_ids)),
            task_run.c.worker_id == worker_id,
            task_run.c.state_type.in_(HELD_TYPES),
        )
        .values(lease_expire_time=lease_expire_time)
        .returning(task_run.c.id, task_run.c.state_type)
    )
    return {row.id: StateType(row.state_type) for row in result}
