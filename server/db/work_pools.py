"""Queries on work pools and their queues."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.records import _FromRow
from runplane.server.db.tables import work_pool, work_queue
from runplane.server.db.upsert import insert_ignoring_conflict, insert_or_read

# The queue every pool starts with, served first.
DEFAULT_QUEUE_NAME = "default"
DEFAULT_QUEUE_PRIORITY = 1


@dataclass(frozen=True, slots=True)
class WorkPoolRecord(_FromRow):
    id: uuid.UUID
    name: str
    description: str
    paused: bool
    concurrency_limit: int | None
    create_time: datetime


@dataclass(frozen=True, slots=True)
class WorkQueueRecord(_FromRow):
    id: uuid.UUID
    name: str
    work_pool_name: str
    priority: int
    paused: bool
    concurrency_limit: int | None


@dataclass(frozen=True, slots=True)
class NewWorkPool:
    name: str
    description: str = ""
    paused: bool = False
    concurrency_limit: int | None = None


async def insert_pool(
    conn: AsyncConnection, pool: NewWorkPool, now: datetime
) -> WorkPoolRecord | None:
    """Creates the pool with its default queue; None when the name is taken."""
    record = WorkPoolRecord(
        id=uuid.uuid4(),
        name=pool.name,
        description=pool.description,
        paused=pool.paused,
        concurrency_limit=pool.concurrency_limit,
        create_time=now,
    )
    if not await insert_ignoring_conflict(conn, work_pool, asdict(record), ["name"]):
        return None
    await insert_queue(conn, record.id, DEFAULT_QUEUE_NAME, DEFAULT_QUEUE_PRIORITY, None)
    return record


async def create_or_get_pool(conn: AsyncConnection, name: str, now: datetime) -> WorkPoolRecord:
    """The pool with this name, created with default settings when missing."""
    pool, _ = await insert_or_read(
        lambda: insert_pool(conn, NewWorkPool(name), now), lambda: get_pool(conn, name)
    )
    return pool


async def get_pool(
    conn: AsyncConnection, name: str, *, for_update: bool = False
) -> WorkPoolRecord | None:
    query = sa.select(work_pool).where(work_pool.c.name == name)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return WorkPoolRecord.from_row(row) if row else None


async def list_pools_page(
    conn: AsyncConnection, *, after_name: str | None, limit: int
) -> list[WorkPoolRecord]:
    query = sa.select(work_pool).order_by(work_pool.c.name).limit(limit)
    if after_name is not None:
        query = query.where(work_pool.c.name > after_name)
    return [WorkPoolRecord.from_row(row) for row in await conn.execute(query)]


async def update_pool(conn: AsyncConnection, name: str, changes: Mapping[str, Any]) -> bool:
    """Sets the given columns of the pool; False when there is no pool with that name."""
    statement = sa.update(work_pool).where(work_pool.c.name == name).values(**changes)
    result = await conn.execute(statement)
    return result.rowcount > 0


async def delete_pool(conn: AsyncConnection, name: str) -> bool:
    """Deletes the pool; its queues go with it (foreign key cascade)."""
    result = await conn.execute(sa.delete(work_pool).where(work_pool.c.name == name))
    return result.rowcount > 0


async def insert_queue(
    conn: AsyncConnection,
    pool_id: uuid.UUID,
    name: str,
    priority: int,
    concurrency_limit: int | None,
    *,
    paused: bool = False,
) -> bool:
    """Creates the queue unless the pool has one with that name; True when it was created."""
    values = {
        "id": uuid.uuid4(),
        "work_pool_id": pool_id,
        "name": name,
        "priority": priority,
        "paused": paused,
        "concurrency_limit": concurrency_limit,
    }
    return await insert_ignoring_conflict(conn, work_queue, values, ["work_pool_id", "name"])


async def next_priority(conn: AsyncConnection, pool_id: uuid.UUID) -> int:
    """One past the pool's lowest-served queue, so that a queue without a priority goes last."""
    query = sa.select(sa.func.max(work_queue.c.priority)).where(
        work_queue.c.work_pool_id == pool_id
    )
    highest = (await conn.execute(query)).scalar()
    return (highest or 0) + 1


def _queue_query() -> sa.Select[tuple[object, ...]]:
    return sa.select(
        work_queue.c.id,
        work_queue.c.name,
        work_pool.c.name.label("work_pool_name"),
        work_queue.c.priority,
        work_queue.c.paused,
        work_queue.c.concurrency_limit,
    ).join(work_pool, work_pool.c.id == work_queue.c.work_pool_id)


async def get_queue(conn: AsyncConnection, pool_name: str, name: str) -> WorkQueueRecord | None:
    query = _queue_query().where(work_pool.c.name == pool_name, work_queue.c.name == name)
    row = (await conn.execute(query)).first()
    return WorkQueueRecord.from_row(row) if row else None


async def update_queue(
    conn: AsyncConnection, pool_name: str, name: str, changes: Mapping[str, Any]
) -> bool:
    """Sets the given columns of the pool's queue; False when the pool or the queue is missing."""
    pool_id = sa.select(work_pool.c.id).where(work_pool.c.name == pool_name).scalar_subquery()
    statement = (
        sa.update(work_queue)
        .where(work_queue.c.work_pool_id == pool_id, work_queue.c.name == name)
        .values(**changes)
    )
    result = await conn.execute(statement)
    return result.rowcount > 0


async def list_queues(conn: AsyncConnection, pool_name: str) -> list[WorkQueueRecord]:
    query = (
        _queue_query()
        .where(work_pool.c.name == pool_name)
        .order_by(work_queue.c.priority, work_queue.c.name)
    )
    return [WorkQueueRecord.from_row(row) for row in await conn.execute(query)]


async def ensure_queue(
    conn: AsyncConnection, pool_name: str, queue_name: str, now: datetime
) -> None:
    """The pool and its queue exist afterwards; missing ones are created with defaults."""
    pool = await create_or_get_pool(conn, pool_name, now)
    if await get_queue(conn, pool_name, queue_name) is None:
        await insert_queue(conn, pool.id, queue_name, await next_priority(conn, pool.id), None)
