"""Reading back what another server process committed, for this process's watches and log
follows: flow-run states by id or since a time, log records by id range or after an id."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.logs import LogRecord
from runplane.server.db.run_records import StateRecord, state_from_row
from runplane.server.db.tables import flow_run_state, log


async def data_version(conn: AsyncConnection) -> int:
    """SQLite's data_version of the held connection ``conn``, read in a transaction of its
    own: it moves whenever another connection commits to the file, at no I/O cost."""
    value = (await conn.exec_driver_sql("PRAGMA data_version")).scalar_one()
    await conn.rollback()
    return int(value)


StateChange = tuple[uuid.UUID, StateRecord]
"""A flow run id and one of its states."""


def _changes(rows: sa.CursorResult[tuple[object, ...]]) -> list[StateChange]:
    changes: list[StateChange] = []
    for row in rows:
        state = state_from_row(row._mapping, prefix="")
        if state is not None:
            changes.append((row._mapping["flow_run_id"], state))
    return changes


async def states_by_id(
    conn: AsyncConnection, state_ids: Collection[uuid.UUID]
) -> list[StateChange]:
    """The flow-run states with these ids, oldest first."""
    if not state_ids:
        return []
    query = (
        sa.select(flow_run_state)
        .where(flow_run_state.c.id.in_(sa.bindparam("ids", expanding=True)))
        .order_by(flow_run_state.c.timestamp)
    )
    return _changes(await conn.execute(query, {"ids": list(state_ids)}))


async def states_since(conn: AsyncConnection, since: datetime) -> list[StateChange]:
    """Every flow-run state with a timestamp after ``since``, oldest first."""
    query = (
        sa.select(flow_run_state)
        .where(flow_run_state.c.timestamp > since)
        .order_by(flow_run_state.c.timestamp)
    )
    return _changes(await conn.execute(query))


async def newest_state_time(conn: AsyncConnection) -> datetime | None:
    """The timestamp of the newest flow-run state (None when there is none)."""
    query = sa.select(sa.func.max(flow_run_state.c.timestamp))
    value: datetime | None = (await conn.execute(query)).scalar_one_or_none()
    return value


async def logs_in_ranges(
    conn: AsyncConnection, ranges: Sequence[tuple[uuid.UUID, int, int]]
) -> list[LogRecord]:
    """The records of each ``(flow run id, first id, last id)``, by id."""
    if not ranges:
        return []
    query = (
        sa.select(log)
        .where(
            sa.or_(
                *(
                    sa.and_(log.c.flow_run_id == run_id, log.c.id.between(first, last))
                    for run_id, first, last in ranges
                )
            )
        )
        .order_by(log.c.id)
    )
    return [LogRecord.from_row(row) for row in await conn.execute(query)]


async def logs_after(conn: AsyncConnection, after_id: int, limit: int) -> list[LogRecord]:
    """Up to ``limit`` records after ``after_id``, by id."""
    query = sa.select(log).where(log.c.id > after_id).order_by(log.c.id).limit(limit)
    return [LogRecord.from_row(row) for row in await conn.execute(query)]


async def last_log_id(conn: AsyncConnection) -> int:
    """The highest log record id (0 when there is none)."""
    value = (await conn.execute(sa.select(sa.func.max(log.c.id)))).scalar_one_or_none()
    return int(value or 0)
