"""Queries that write many flow runs' states, or create many runs, in one statement each.

They serve the batched write path: one transaction applies the proposals of many requests,
so its cost in round trips and statements does not grow with the number of requests.
`executemany` sends every row in one round trip (a pipeline on PostgreSQL).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from runplane.server.db import postgresql
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.flow_runs import (
    INSERT_STATE,
    LOCK_COLUMNS,
    LOCK_FROM,
    RUN_INSERT_COLUMNS,
    SELECT_RUNS,
    UPDATE,
    WRITE_COLUMNS,
    NewFlowRun,
    flow_run_from_row,
    locked_from_row,
    run_values,
    update_params,
)
from runplane.server.db.run_records import FlowRunRecord, LockedRun, StateWrite, history_columns
from runplane.server.db.tables import flow, flow_run, flow_run_state
from runplane.server.db.unnest import unnest_params, unnest_rows

# Ordered by id so that concurrent batches lock their rows in one order and cannot deadlock.
_LOCK_MANY = (
    sa.select(*LOCK_COLUMNS)
    .select_from(LOCK_FROM)
    .where(flow_run.c.id.in_(sa.bindparam("run_ids", expanding=True)))
    .order_by(flow_run.c.id)
    .with_for_update(of=flow_run)
)

_FLOW_NAMES = sa.select(flow.c.id, flow.c.name).where(
    flow.c.id.in_(sa.bindparam("flow_ids", expanding=True))
)

_INSERT_RUN = sa.insert(flow_run)

_HISTORY = [c.name for c in flow_run_state.c if c.name != "flow_run_id"]
_INTO_HISTORY = f"INSERT INTO flow_run_state ({', '.join(_HISTORY)}, flow_run_id)"
_WRITE_ROWS = [("b_run_id", flow_run.c.id), *((f"b_{n}", flow_run.c[n]) for n in WRITE_COLUMNS)]
_NEW_ROWS = [(n, flow_run.c[n]) for n in RUN_INSERT_COLUMNS]

# The PostgreSQL statements are built on first use: see `postgresql`.


@functools.cache
def _pg_lock_many() -> sa.Select[Any]:
    run_ids = sa.bindparam("run_ids", type_=postgresql.array_of(sa.Uuid))
    return (
        sa.select(*LOCK_COLUMNS)
        .select_from(LOCK_FROM)
        .where(flow_run.c.id == sa.any_(run_ids))
        .order_by(flow_run.c.id)
        .with_for_update(of=flow_run)
    )


@functools.cache
def _pg_write_many() -> sa.TextClause:
    """Every new state and run row of a batch in one statement."""
    return sa.text(
        f"WITH v AS ({unnest_rows(_WRITE_ROWS)}), "
        f"s AS ({_INTO_HISTORY} SELECT {', '.join(f'b_state_{c}' for c in _HISTORY)}, b_run_id "
        "FROM v) "
        f"UPDATE flow_run SET {', '.join(f'{n} = v.b_{n}' for n in WRITE_COLUMNS)} "
        "FROM v WHERE flow_run.id = v.b_run_id"
    )


@functools.cache
def _pg_insert_many() -> sa.TextClause:
    """Every new run of a batch and its first state in one statement."""
    return sa.text(
        f"WITH v AS ({unnest_rows(_NEW_ROWS)}), "
        f"r AS (INSERT INTO flow_run ({', '.join(RUN_INSERT_COLUMNS)}) "
        f"SELECT {', '.join(RUN_INSERT_COLUMNS)} FROM v) "
        f"{_INTO_HISTORY} SELECT {', '.join(f'state_{c}' for c in _HISTORY)}, id FROM v"
    )


@functools.cache
def _pg_create_and_write() -> sa.TextClause:
    """A whole batch's writes in one statement, when it both creates runs and writes states of
    existing ones. The new runs and the updated runs are different rows, so no part of the
    statement needs to see what another part wrote."""
    return sa.text(
        f"WITH n AS ({unnest_rows(_NEW_ROWS, 'new_rows')}), "
        f"r AS (INSERT INTO flow_run ({', '.join(RUN_INSERT_COLUMNS)}) "
        f"SELECT {', '.join(RUN_INSERT_COLUMNS)} FROM n), "
        f"ns AS ({_INTO_HISTORY} SELECT {', '.join(f'state_{c}' for c in _HISTORY)}, id FROM n), "
        f"v AS ({unnest_rows(_WRITE_ROWS)}), "
        f"s AS ({_INTO_HISTORY} SELECT {', '.join(f'b_state_{c}' for c in _HISTORY)}, b_run_id "
        "FROM v) "
        f"UPDATE flow_run SET {', '.join(f'{n} = v.b_{n}' for n in WRITE_COLUMNS)} "
        "FROM v WHERE flow_run.id = v.b_run_id"
    )


async def lock_many(
    conn: AsyncConnection, run_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, LockedRun]:
    """The runs that exist among `run_ids`, by id, their rows locked until the transaction ends."""
    statement = _pg_lock_many() if conn.dialect.name == "postgresql" else _LOCK_MANY
    rows = await conn.execute(statement, {"run_ids": list(run_ids)})
    locked = (locked_from_row(row._mapping) for row in rows)
    return {run.id: run for run in locked}


async def write_states(
    conn: AsyncConnection, writes: Sequence[tuple[LockedRun, StateWrite]]
) -> None:
    """Records each state and updates its locked run's row (at most one write per run)."""
    if not writes:
        return
    updates = [update_params(run, write) for run, write in writes]
    if conn.dialect.name == "postgresql":
        await conn.execute(_pg_write_many(), unnest_params(updates))
        return
    histories = [{**history_columns(write.state), "flow_run_id": run.id} for run, write in writes]
    await conn.execute(UPDATE, updates)
    await conn.execute(INSERT_STATE, histories)


async def flow_names(conn: AsyncConnection, flow_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await conn.execute(_FLOW_NAMES, {"flow_ids": list(set(flow_ids))})
    return {row.id: row.name for row in rows}


async def insert_runs(conn: AsyncConnection, runs: Sequence[tuple[NewFlowRun, StateWrite]]) -> None:
    """Inserts new runs (with ids of the server's choosing) and their first states."""
    if not runs:
        return
    values = [run_values(run, write) for run, write in runs]
    if conn.dialect.name == "postgresql":
        await conn.execute(_pg_insert_many(), unnest_params(values))
        return
    await conn.execute(_INSERT_RUN, values)
    states = [{**history_columns(write.state), "flow_run_id": run.id} for run, write in runs]
    await conn.execute(INSERT_STATE, states)


async def get_many(
    conn: AsyncConnection, run_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, FlowRunRecord]:
    statement = SELECT_RUNS.where(flow_run.c.id.in_(sa.bindparam("run_ids", expanding=True)))
    rows = await conn.execute(statement, {"run_ids": list(run_ids)})
    records = (flow_run_from_row(row._mapping) for row in rows)
    return {record.id: record for record in records}


async def create_and_write(
    conn: AsyncConnection,
    runs: Sequence[tuple[NewFlowRun, StateWrite]],
    writes: Sequence[tuple[LockedRun, StateWrite]],
) -> None:
    """`insert_runs` and `write_states` together: on PostgreSQL one statement, one round trip."""
    if conn.dialect.name != "postgresql" or not runs or not writes:
        await insert_runs(conn, runs)
        await write_states(conn, writes)
        return
    params = unnest_params([run_values(run, write) for run, write in runs], "new_rows")
    params.update(unnest_params([update_params(run, write) for run, write in writes]))
    await conn.execute(_pg_create_and_write(), params)
