"""Bulk statements of ReportTaskRuns: each runs once per batch, however many updates it holds."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from runplane.server.db import postgresql, task_runs
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.run_records import ReferenceMissing, StateRecord, history_columns
from runplane.server.db.tables import flow_run, task_run

_LOCK_SEQUENCE = (
    sa.select(flow_run.c.task_report_sequence)
    .where(flow_run.c.id == sa.bindparam("run_id"))
    .with_for_update()
)

_SET_SEQUENCE = (
    sa.update(flow_run)
    .where(flow_run.c.id == sa.bindparam("b_run_id"))
    .values(task_report_sequence=sa.bindparam("b_sequence"))
)


async def lock_sequence(conn: AsyncConnection, flow_run_id: uuid.UUID) -> int | None:
    """The flow run's highest applied report sequence, its row locked; None if it is missing.

    The lock orders concurrent reports for one flow run, so each sequence applies once.
    """
    result = await conn.execute(_LOCK_SEQUENCE, {"run_id": flow_run_id})
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


async def set_sequence(conn: AsyncConnection, flow_run_id: uuid.UUID, sequence: int) -> None:
    await conn.execute(_SET_SEQUENCE, {"b_run_id": flow_run_id, "b_sequence": sequence})


async def insert_runs(
    conn: AsyncConnection,
    runs: Sequence[task_runs.NewTaskRun],
    written: Mapping[uuid.UUID, dict[str, Any]],
    now: datetime,
) -> set[uuid.UUID]:
    """Inserts the task runs, each with the columns of its last state in `written`
    (`task_runs.UPDATE` parameters) already set; answers the ids of those inserted.

    A run whose id or (task key, dynamic key) already exists is skipped. One executemany
    (pipelined by psycopg): a multi-row VALUES statement would be parsed anew by psycopg on
    every call, and psycopg reports no row count for an executemany, so on PostgreSQL the
    ids are read back, a light query on the primary key.
    """
    if not runs:
        return set()
    rows = []
    for run in runs:
        row = task_runs.new_run_values(run, now)
        params = written.get(run.id)
        if params is None:
            row.update(task_runs.BLANK_STATE_COLUMNS)
        else:
            row.update({name: params[f"b_{name}"] for name in task_runs.WRITE_COLUMNS})
        rows.append(row)
    try:
        result = await conn.execute(task_runs.insert_ignoring_conflicts(conn), rows)
    except IntegrityError:
        raise ReferenceMissing("flow run", runs[0].flow_run_id) from None
    if result.rowcount == len(rows):
        return {run.id for run in runs}
    return await _holding(conn, {row["id"]: row["state_id"] for row in rows})


async def _holding(conn: AsyncConnection, states: dict[uuid.UUID, Any]) -> set[uuid.UUID]:
    """The runs among `states` whose row holds the given state id, i.e. rows written now."""
    ids = list(states)
    if conn.dialect.name == "postgresql":
        matches = task_run.c.id == sa.any_(
            sa.bindparam("ids", ids, type_=postgresql.array_of(sa.Uuid))
        )
    else:
        matches = task_run.c.id.in_(ids)
    result = await conn.execute(sa.select(task_run.c.id, task_run.c.state_id).where(matches))
    return {row.id for row in result if row.state_id == states[row.id]}


async def insert_states(
    conn: AsyncConnection, states: Sequence[tuple[uuid.UUID, StateRecord]]
) -> None:
    if states:
        rows = [{**history_columns(state), "task_run_id": run_id} for run_id, state in states]
        await conn.execute(task_runs.INSERT_STATE, rows)


async def update_runs(conn: AsyncConnection, params: Sequence[dict[str, Any]]) -> None:
    """Applies `task_runs.UPDATE` once per parameter set, in one round of executemany."""
    if params:
        await conn.execute(task_runs.UPDATE, list(params))
