"""Queries on task runs and their state history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError

from runplane.server.db import postgresql, state_history
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.run_filters import TaskRunQuery, task_run_conditions
from runplane.server.db.run_records import (
    LockedRun,
    ReferenceMissing,
    StateRecord,
    StateWrite,
    TaskRunRecord,
    history_columns,
    outcome_from_row,
    state_columns,
    state_from_row,
    times_from_row,
)
from runplane.server.db.tables import task_run, task_run_state
from runplane.server.orchestration.states import StateType


@dataclass(frozen=True, slots=True)
class NewTaskRun:
    id: uuid.UUID
    flow_run_id: uuid.UUID | None
    task_key: str
    dynamic_key: str
    name: str
    cache_key: str | None
    cache_expiration: datetime | None
    task_version: str | None
    tags: list[str]
    retries: int
    retry_delays: list[float]
    inputs: dict[str, list[str]]
    background: bool = False
    parameters: dict[str, Any] | None = None


def task_run_from_row(mapping: Any) -> TaskRunRecord:
    return TaskRunRecord(
        id=mapping["id"],
        flow_run_id=mapping["flow_run_id"],
        task_key=mapping["task_key"],
        dynamic_key=mapping["dynamic_key"],
        name=mapping["name"],
        state=state_from_row(mapping),
        cache_key=mapping["cache_key"],
        cache_expiration=mapping["cache_expiration"],
        task_version=mapping["task_version"],
        tags=mapping["tags"],
        times=times_from_row(mapping),
        retries=mapping["retries"],
        retry_delays=mapping["retry_delays"],
        inputs=mapping["inputs"],
        create_time=mapping["create_time"],
        update_time=mapping["update_time"],
        background=mapping["background"],
        parameters=mapping["parameters"],
        attempt=mapping["attempt"],
    )


def locked_from_row(mapping: Any) -> LockedRun:
    return LockedRun(
        id=mapping["id"],
        state=state_from_row(mapping),
        last=outcome_from_row(mapping),
        times=times_from_row(mapping),
        retries=mapping["retries"],
        retry_delays=mapping["retry_delays"],
        cache_key=mapping["cache_key"],
        cache_expiration=mapping["cache_expiration"],
        lease_id=mapping["lease_id"],
        lease_expire_time=mapping["lease_expire_time"],
    )


WRITE_COLUMNS = (
    *(c.name for c in task_run.c if c.name.startswith(("state_", "last_"))),
    "run_count",
    "start_time",
    "end_time",
    "total_run_time",
    "expected_start_time",
    "update_time",
    "cache_key",
    "cache_expiration",
)

UPDATE = (
    sa.update(task_run)
    .where(task_run.c.id == sa.bindparam("b_run_id"))
    .values({name: sa.bindparam(f"b_{name}") for name in WRITE_COLUMNS})
)
"""Writes a state's columns onto a task run; executed once per run, or for many at once."""

BLANK_STATE_COLUMNS: dict[str, Any] = {
    **{name: None for name in WRITE_COLUMNS if name.startswith(("state_", "last_"))},
    "run_count": 0,
    "start_time": None,
    "end_time": None,
    "total_run_time": 0.0,
    "expected_start_time": None,
}
"""The state and bookkeeping columns of a task run that has no state yet."""

INSERT_STATE = sa.insert(task_run_state)

LOCK = sa.select(task_run).where(task_run.c.id == sa.bindparam("run_id")).with_for_update()


def update_params(
    run: LockedRun, write: StateWrite, cache: tuple[str | None, datetime | None] | None
) -> dict[str, Any]:
    """The parameters of `UPDATE` for one run; `cache` replaces the run's cache key."""
    params = {f"b_{name}": value for name, value in state_columns(write).items()}
    params["b_run_id"] = run.id
    cache_key, expiration = cache if cache is not None else (run.cache_key, run.cache_expiration)
    params["b_cache_key"] = cache_key
    params["b_cache_expiration"] = expiration
    return params


def new_run_values(run: NewTaskRun, now: datetime) -> dict[str, Any]:
    values = {f.name: getattr(run, f.name) for f in fields(NewTaskRun)}
    values.update(create_time=now, update_time=now)
    return values


def insert_ignoring_conflicts(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(task_run).on_conflict_do_nothing()


async def insert(conn: AsyncConnection, run: NewTaskRun, now: datetime) -> bool:
    """Inserts the run; False when its id or (flow run, task key, dynamic key) is taken."""
    statement = insert_ignoring_conflicts(conn).values(new_run_values(run, now))
    try:
        result = await conn.execute(statement.returning(task_run.c.id))
    except IntegrityError:
        raise ReferenceMissing("flow run", run.flow_run_id) from None
    return result.first() is not None


async def get(conn: AsyncConnection, run_id: uuid.UUID) -> TaskRunRecord | None:
    row = (await conn.execute(sa.select(task_run).where(task_run.c.id == run_id))).first()
    return task_run_from_row(row._mapping) if row else None


async def get_by_key(
    conn: AsyncConnection, flow_run_id: uuid.UUID | None, task_key: str, dynamic_key: str
) -> TaskRunRecord | None:
    """The flow run's task run with these keys; None for a task run of its own, which is
    found by its id alone."""
    if flow_run_id is None:
        return None
    query = sa.select(task_run).where(
        task_run.c.flow_run_id == flow_run_id,
        task_run.c.task_key == task_key,
        task_run.c.dynamic_key == dynamic_key,
    )
    row = (await conn.execute(query)).first()
    return task_run_from_row(row._mapping) if row else None


async def list_page(
    conn: AsyncConnection,
    query: TaskRunQuery,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[TaskRunRecord]:
    """Task runs oldest first, by (create_time, id), starting after the key `after`."""
    statement = sa.select(task_run).where(*task_run_conditions(query))
    if after is not None:
        time, run_id = after
        statement = statement.where(
            sa.or_(
                task_run.c.create_time > time,
                sa.and_(task_run.c.create_time == time, task_run.c.id > run_id),
            )
        )
    statement = statement.order_by(task_run.c.create_time, task_run.c.id).limit(limit)
    return [task_run_from_row(row._mapping) for row in await conn.execute(statement)]


async def lock(conn: AsyncConnection, run_id: uuid.UUID) -> LockedRun | None:
    row = (await conn.execute(LOCK, {"run_id": run_id})).first()
    return locked_from_row(row._mapping) if row else None


async def write_state(
    conn: AsyncConnection,
    run: LockedRun,
    write: StateWrite,
    cache: tuple[str, datetime | None] | None = None,
) -> None:
    await conn.execute(UPDATE, update_params(run, write, cache))
    await conn.execute(INSERT_STATE, {**history_columns(write.state), "task_run_id": run.id})


async def exists(conn: AsyncConnection, run_id: uuid.UUID) -> bool:
    result = await conn.execute(sa.select(task_run.c.id).where(task_run.c.id == run_id))
    return result.first() is not None


async def list_states(
    conn: AsyncConnection, run_id: uuid.UUID, *, after: datetime | None, limit: int
) -> list[StateRecord]:
    """The run's states, oldest first."""
    return await state_history.list_states(
        conn, task_run_state.c.task_run_id, run_id, after=after, limit=limit
    )


async def lookup_cached(
    conn: AsyncConnection, cache_key: str, now: datetime
) -> tuple[uuid.UUID, StateRecord] | None:
    """The newest COMPLETED task run under the cache key whose entry has not expired."""
    query = (
        sa.select(task_run)
        .where(
            task_run.c.cache_key == cache_key,
            task_run.c.state_type == StateType.COMPLETED,
            sa.or_(task_run.c.cache_expiration.is_(None), task_run.c.cache_expiration > now),
        )
        .order_by(task_run.c.state_timestamp.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    state = state_from_row(row._mapping)
    return (row.id, state) if state is not None else None


async def by_ids(
    conn: AsyncConnection, flow_run_id: uuid.UUID, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[LockedRun, str, str]]:
    """The flow run's task runs among `run_ids`, locked, with their task and dynamic keys."""
    query = (
        sa.select(task_run)
        .where(task_run.c.flow_run_id == flow_run_id, task_run.c.id.in_(run_ids))
        .with_for_update()
    )
    found: dict[uuid.UUID, tuple[LockedRun, str, str]] = {}
    for row in await conn.execute(query):
        m = row._mapping
        found[m["id"]] = (locked_from_row(m), m["task_key"], m["dynamic_key"])
    return found


async def ids_by_keys(
    conn: AsyncConnection, flow_run_id: uuid.UUID, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], uuid.UUID]:
    """The ids of the flow run's task runs with these (task key, dynamic key) pairs."""
    if not keys:
        return {}
    task_keys = sorted({key[0] for key in keys})
    query = sa.select(task_run.c.id, task_run.c.task_key, task_run.c.dynamic_key).where(
        task_run.c.flow_run_id == flow_run_id, task_run.c.task_key.in_(task_keys)
    )
    wanted = set(keys)
    found: dict[tuple[str, str], uuid.UUID] = {}
    for row in await conn.execute(query):
        if (row.task_key, row.dynamic_key) in wanted:
            found[(row.task_key, row.dynamic_key)] = row.id
    return found
