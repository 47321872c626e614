"""Retention: log records (with their batch ids) and superseded states older than their
setting are deleted, and so are runs that ended before theirs (see `run_retention`).

A run keeps its current state whatever its age: that state is what lists and inspections
show, and the run row carries it. Deletes go in batches, each its own short transaction
under the loop's lock, so that a large backlog never holds locks for long and one server
process at a time does the work. Between batches a pass rests nine times as long as the
last batch took, so that working through a backlog takes a tenth of the database's time.

Each batch reads a bounded slice of its table's time index. Old logs all go, so the next
slice starts at the oldest row again. Old states that are their run's current state stay,
and a table of finished runs holds one per run: a batch that skipped them anew each time
would read ever more rows, so the state batches walk the index by (timestamp, id) from where
the last one stopped, across passes, and start over only once they reach the cutoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from runplane.server.clock import Clock
from runplane.server.db import loop_locks
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.engine import Database
from runplane.server.db.log_batches import APPLIED_BATCHES
from runplane.server.db.tables import (
    flow_run,
    flow_run_state,
    log,
    task_run,
    task_run_state,
)
from runplane.server.loops.run_retention import RUN_BATCH, delete_old_task_runs, old_flow_runs
from runplane.server.settings import ServerSettings

BATCH = 5000
# Batches per table in one pass: the rest waits for the next pass.
MAX_BATCHES = 20
# The share of its time a pass spends in its transactions: before each batch after the first
# it rests (1 - share) / share times as long as the previous batch took, so that through a
# large backlog the calls keep nearly all of the database, and of the CPU where they share
# the machine with it. A slower database makes longer batches, hence longer rests.
BUSY_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Pruned:
    logs: int = 0
    flow_run_states: int = 0
    task_run_states: int = 0
    flow_runs: int = 0
    task_runs: int = 0


StateKey = tuple[datetime, uuid.UUID]
"""Where a walk of a state history table's (timestamp, id) index stopped."""


def _old_logs(cutoff: datetime, batch: int) -> sa.Delete:
    chosen = sa.select(log.c.id).where(log.c.timestamp < cutoff).limit(batch)
    return sa.delete(log).where(log.c.id.in_(chosen.scalar_subquery()))


def _old_log_batches(
    table: sa.Table, owner: sa.Column[uuid.UUID], cutoff: datetime, batch: int
) -> sa.Delete:
    """Applied WriteLogs batch ids as old as the logs deleted: no retry comes that late."""
    key = sa.tuple_(owner, table.c.batch_id)
    chosen = sa.select(owner, table.c.batch_id).where(table.c.create_time < cutoff).limit(batch)
    return sa.delete(table).where(key.in_(chosen))


def _history_key(history: sa.Table) -> sa.Tuple:
    return sa.tuple_(history.c.timestamp, history.c.id)


def _key(history: sa.Table, key: StateKey) -> sa.Tuple:
    return sa.tuple_(
        sa.literal(key[0], history.c.timestamp.type), sa.literal(key[1], history.c.id.type)
    )


def _old_states_after(
    history: sa.Table, cutoff: datetime, after: StateKey | None
) -> list[sa.ColumnElement[bool]]:
    conditions = [history.c.timestamp < cutoff]
    if after is not None:
        conditions.append(_history_key(history) > _key(history, after))
    return conditions


def _slice_end(
    history: sa.Table, cutoff: datetime, after: StateKey | None, batch: int
) -> sa.Select[Any]:
    """The key of the `batch`-th old state after `after`: where this batch's slice ends."""
    return (
        sa.select(history.c.timestamp, history.c.id)
        .where(*_old_states_after(history, cutoff, after))
        .order_by(history.c.timestamp, history.c.id)
        .offset(batch - 1)
        .limit(1)
    )


def _superseded_states(
    run_key: sa.Column[uuid.UUID],
    runs: sa.Table,
    cutoff: datetime,
    after: StateKey | None,
    end: StateKey | None,
) -> sa.Delete:
    """The states of the slice (after, end] that are not their run's current state (read
    through the run's key); without `end`, up to the cutoff."""
    history = run_key.table
    assert isinstance(history, sa.Table)
    current = sa.select(runs.c.state_id).where(runs.c.id == run_key).scalar_subquery()
    conditions = _old_states_after(history, cutoff, after)
    if end is not None:
        conditions.append(_history_key(history) <= _key(history, end))
    return sa.delete(history).where(*conditions, history.c.id != current)


class Retention:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        settings: ServerSettings,
        *,
        batch: int = BATCH,
        max_batches: int = MAX_BATCHES,
        run_batch: int | None = None,
        busy_share: float = BUSY_SHARE,
    ) -> None:
        self._db = database
        self._clock = clock
        self._settings = settings
        self._batch = batch
        self._max_batches = max_batches
        self._run_batch = RUN_BATCH[database.dialect] if run_batch is None else run_batch
        self._rest_ratio = (1 - busy_share) / busy_share
        self._rest = 0.0
        # Per state history table, where its walk stopped: the next pass goes on from there.
        self._resume: dict[str, StateKey] = {}

    @property
    def enabled(self) -> bool:
        s = self._settings
        days = (s.log_retention_days, s.state_retention_days, s.run_retention_days)
        return any(d is not None for d in days)

    async def run_once(self) -> Pruned:
        """One pass: how many rows of each kind it deleted."""
        now = self._clock.now()
        self._rest = 0.0
        logs = flow_states = task_states = 0
        if (days := self._settings.log_retention_days) is not None:
            cutoff = now - timedelta(days=days)
            logs = await self._delete(_old_logs(cutoff, self._batch), self._batch)
            for table, owner in APPLIED_BATCHES:
                batches = _old_log_batches(table, owner, cutoff, self._batch)
                await self._delete(batches, self._batch)
        if (days := self._settings.state_retention_days) is not None:
            cutoff = now - timedelta(days=days)
            flow_states = await self._prune_states(flow_run_state.c.flow_run_id, flow_run, cutoff)
            task_states = await self._prune_states(task_run_state.c.task_run_id, task_run, cutoff)
        flow_runs = task_runs = 0
        if (days := self._settings.run_retention_days) is not None:
            cutoff = now - timedelta(days=days)
            statement = old_flow_runs(cutoff, self._run_batch, self._db.dialect)
            flow_runs = await self._delete(statement, self._run_batch)
            own = functools.partial(delete_old_task_runs, cutoff=cutoff, batch=self._run_batch)
            task_runs = await self._batches(own, self._run_batch)
        return Pruned(logs, flow_states, task_states, flow_runs, task_runs)

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        """A batch's transaction, after the rest that the previous batch earned."""
        await asyncio.sleep(self._rest)
        started = time.monotonic()
        try:
            async with self._db.write() as conn:
                yield conn
        finally:
            self._rest = (time.monotonic() - started) * self._rest_ratio

    async def _delete(self, statement: sa.Delete, batch: int) -> int:
        async def execute(conn: AsyncConnection) -> int:
            return (await conn.execute(statement)).rowcount

        return await self._batches(execute, batch)

    async def _batches(self, work: Callable[[AsyncConnection], Awaitable[int]], batch: int) -> int:
        """Runs `work` in transactions of its own under the loop's lock, until one deletes
        fewer than a whole batch or the pass has had its batches: how many it deleted."""
        deleted = 0
        for _ in range(self._max_batches):
            async with self._transaction() as conn:
                if not await loop_locks.try_lock(conn, "retention"):
                    return deleted
                count = await work(conn)
            deleted += count
            if count < batch:
                break
        return deleted

    async def _prune_states(
        self, run_key: sa.Column[uuid.UUID], runs: sa.Table, cutoff: datetime
    ) -> int:
        history = run_key.table
        assert isinstance(history, sa.Table)
        deleted = 0
        for _ in range(self._max_batches):
            after = self._resume.get(history.name)
            async with self._transaction() as conn:
                if not await loop_locks.try_lock(conn, "retention"):
                    return deleted
                found = await conn.execute(_slice_end(history, cutoff, after, self._batch))
                row = found.first()
                end = None if row is None else (row.timestamp, row.id)
                statement = _superseded_states(run_key, runs, cutoff, after, end)
                deleted += (await conn.execute(statement)).rowcount
            if end is None:
                # The walk reached the cutoff: the next pass starts from the oldest again.
                self._resume.pop(history.name, None)
                break
            self._resume[history.name] = end
        return deleted
