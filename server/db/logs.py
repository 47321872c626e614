"""Queries on log records."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.records import _FromRow
from runplane.server.db.tables import flow_run, log, task_run

# First key of the PostgreSQL advisory locks that order log writes of one flow run.
_LOG_LOCK_CLASS = 0x6C6F67


@dataclass(frozen=True, slots=True)
class LogRecord(_FromRow):
    id: int
    flow_run_id: uuid.UUID | None
    task_run_id: uuid.UUID | None
    level: int
    logger_name: str
    message: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class NewLog:
    flow_run_id: uuid.UUID | None
    """None for a line of a task run of its own."""
    task_run_id: uuid.UUID | None
    level: int
    logger_name: str
    message: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class LogCriteria:
    """Which records a list or a follow selects; unset fields match everything."""

    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None
    min_level: int = 0

    def matches(self, record: LogRecord) -> bool:
        return (
            (self.flow_run_id is None or record.flow_run_id == self.flow_run_id)
            and (self.task_run_id is None or record.task_run_id == self.task_run_id)
            and record.level >= self.min_level
        )


async def existing_flow_runs(
    conn: AsyncConnection, flow_run_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these flow runs exist."""
    query = sa.select(flow_run.c.id).where(flow_run.c.id.in_(list(flow_run_ids)))
    return set((await conn.execute(query)).scalars())


async def existing_task_runs(
    conn: AsyncConnection, task_run_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these task runs exist."""
    if not task_run_ids:
        return set()
    query = sa.select(task_run.c.id).where(task_run.c.id.in_(list(task_run_ids)))
    return set((await conn.execute(query)).scalars())


async def lock_existing_flow_runs(
    conn: AsyncConnection, flow_run_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these flow runs exist, kept from being deleted until the transaction ends.

    A writer checks its runs first and inserts after waiting for ``order_writers``; a delete
    committed in between would make the insert violate the foreign key. The key-share lock
    makes the delete wait for the writer instead, and lets state changes through. SQLite
    writers are already serialized.
    """
    query = (
        sa.select(flow_run.c.id)
        .where(flow_run.c.id.in_(list(flow_run_ids)))
        .with_for_update(read=True, key_share=True)
    )
    return set((await conn.execute(query)).scalars())


async def order_writers(conn: AsyncConnection, flow_run_ids: Collection[uuid.UUID]) -> None:
    """Makes log writes of each of these flow runs commit one after the other, in id order.

    PostgreSQL hands out ids before commit, so two concurrent writers of one run could
    commit ids out of order, and a follower that has read up to id N would never see a
    smaller id committed later. The lock lasts until the transaction ends; SQLite
    writers are already serialized.
    """
    if conn.dialect.name != "postgresql":
        return
    for key in sorted({_lock_key(run_id) for run_id in flow_run_ids}):
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOG_LOCK_CLASS, key)))


def _lock_key(flow_run_id: uuid.UUID) -> int:
    # A signed 32-bit key: runs sharing one only wait for each other a little longer.
    return int.from_bytes(flow_run_id.bytes[:4], "big", signed=True)


async def insert(conn: AsyncConnection, logs: Sequence[NewLog]) -> list[LogRecord]:
    """Stores the records in one statement; returned in the given order with their ids."""
    rows: list[dict[str, Any]] = [
        {
            "flow_run_id": new.flow_run_id,
            "task_run_id": new.task_run_id,
            "level": new.level,
            "logger_name": new.logger_name,
            "message": new.message,
            "timestamp": new.timestamp,
        }
        for new in logs
    ]
    statement = sa.insert(log).returning(log.c.id, sort_by_parameter_order=True)
    ids = (await conn.execute(statement, rows)).scalars().all()
    return [LogRecord(id=log_id, **row) for log_id, row in zip(ids, rows, strict=True)]


async def list_page(
    conn: AsyncConnection, criteria: LogCriteria, *, after_id: int | None, limit: int
) -> list[LogRecord]:
    """Records oldest first (by id), after ``after_id`` when given."""
    query = sa.select(log).order_by(log.c.id).limit(limit)
    if criteria.flow_run_id is not None:
        query = query.where(log.c.flow_run_id == criteria.flow_run_id)
    if criteria.task_run_id is not None:
        query = query.where(log.c.task_run_id == criteria.task_run_id)
    if criteria.min_level > 0:
        query = query.where(log.c.level >= criteria.min_level)
    if after_id is not None:
        query = query.where(log.c.id > after_id)
    return [LogRecord.from_row(row) for row in await conn.execute(query)]
