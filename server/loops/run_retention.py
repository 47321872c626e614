"""Run retention: flow runs that ended before the cutoff are deleted with all that is theirs,
and so are task runs of their own (no flow run).

A run has ended when its current state is final (COMPLETED, FAILED, CANCELLED, CRASHED); it
ended at that state's time. A run in any other state stays however old it is. Each batch
takes the oldest ended runs from a partial index that holds ended runs alone, and on
PostgreSQL skips the rows another transaction holds: a run being moved (a retry out of its
final state) is left to that transaction and judged again at the next batch, and no call
waits on retention. The rows picked are locked until the delete, so that none of them can
leave its final state in between.

A flow run's own rows go with it through their foreign keys (ON DELETE CASCADE): its state
history, its task runs and theirs, its log lines and applied log batch ids, its artifacts
(those of its task runs included: they carry the flow run's id) and its tag rows. A task run
of its own takes its states and log batch ids the same way; its log lines and artifacts,
which no foreign key ties to it, are deleted first, by id.

Subflow runs are judged on their own: a subflow run that ended before the cutoff goes (it
usually ended before its parent, so in the same batch or an earlier one), one still going or
ended since stays. Its `parent_task_run_id` is a plain id, not a foreign key, and keeps
naming the parent's deleted task run.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.tables import (
    FINISHED,
    OWN_TASK_RUN_FINISHED,
    artifact,
    flow_run,
    log,
    task_run,
)
from runplane.server.db.types import UTCDateTime

RUN_BATCH = {"postgresql": 500, "sqlite": 100}
"""Runs deleted per transaction, with their rows: a few tens of milliseconds. SQLite's
transaction holds its one writer, and deletes a run more slowly, so it takes fewer."""
# The partial index of each run table's ended runs (see tables.py), for SQLite.
_ENDED_INDEX = {"flow_run": "ix_flow_run_finished", "task_run": "ix_task_run_own_finished"}


def _oldest_ended(
    runs: sa.Table,
    ended: sa.ColumnElement[bool],
    cutoff: datetime,
    batch: int,
    dialect: str,
) -> sa.Select[uuid.UUID] | sa.TextualSelect:
    """The ids of the `batch` runs that ended longest ago before `cutoff`, locked; on
    PostgreSQL the rows other transactions hold are skipped (SQLite has one writer)."""
    if dialect == "sqlite":
        return _sqlite_oldest_ended(runs, ended, cutoff, batch)
    return (
        sa.select(runs.c.id)
        .where(ended, runs.c.state_timestamp < cutoff)
        .order_by(runs.c.state_timestamp)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )


def _sqlite_oldest_ended(
    runs: sa.Table, ended: sa.ColumnElement[bool], cutoff: datetime, batch: int
) -> sa.TextualSelect:
    """The same, naming the index: without statistics SQLite would pick the index that leads
    with the state type, then sort every old run to take a batch of them."""
    index = _ENDED_INDEX[runs.name]
    condition = ended.compile(dialect=sqlite.dialect())
    statement = sa.text(
        f"SELECT id FROM {runs.name} INDEXED BY {index} WHERE {condition} "
        "AND state_timestamp < :cutoff ORDER BY state_timestamp LIMIT :batch"
    )
    statement = statement.bindparams(
        sa.bindparam("cutoff", cutoff, type_=UTCDateTime), sa.bindparam("batch", batch)
    )
    return statement.columns(id=sa.Uuid)


def old_flow_runs(cutoff: datetime, batch: int, dialect: str) -> sa.Delete:
    """One batch of ended flow runs, whose rows go with them by cascade."""
    chosen = _oldest_ended(flow_run, FINISHED, cutoff, batch, dialect)
    return sa.delete(flow_run).where(flow_run.c.id.in_(chosen.scalar_subquery()))


async def delete_old_task_runs(conn: AsyncConnection, cutoff: datetime, batch: int) -> int:
    """One batch of ended task runs of their own: how many went."""
    chosen = _oldest_ended(task_run, OWN_TASK_RUN_FINISHED, cutoff, batch, conn.dialect.name)
    ids: Sequence[uuid.UUID] = (await conn.execute(chosen)).scalars().all()
    if not ids:
        return 0
    # The partial indexes on lines and artifacts without a flow run find these.
    own = log.c.flow_run_id.is_(None), log.c.task_run_id.in_(ids)
    await conn.execute(sa.delete(log).where(*own))
    own = artifact.c.flow_run_id.is_(None), artifact.c.task_run_id.in_(ids)
    await conn.execute(sa.delete(artifact).where(*own))
    await conn.execute(sa.delete(task_run).where(task_run.c.id.in_(ids)))
    return len(ids)
