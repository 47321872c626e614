"""Retention: log records (with their batch ids) and superseded states older than their
setting are deleted.

A run keeps its current state whatever its age: that state is what lists and inspections
show, and the run row carries it. Deletes go in batches, each its own short transaction
under the loop's lock, so that a large backlog never holds locks for long and one server
process at a time does the work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from runplane.server.clock import Clock
from runplane.server.db import loop_locks
from runplane.server.db.engine import Database
from runplane.server.db.tables import (
    flow_run,
    flow_run_state,
    log,
    log_batch,
    task_run,
    task_run_state,
)
from runplane.server.settings import ServerSettings

BATCH = 5000
# Batches per table in one pass: the rest waits for the next pass.
MAX_BATCHES = 20


@dataclass(frozen=True, slots=True)
class Pruned:
    logs: int = 0
    flow_run_states: int = 0
    task_run_states: int = 0


def _old_logs(cutoff: datetime) -> sa.Delete:
    chosen = sa.select(log.c.id).where(log.c.timestamp < cutoff).limit(BATCH)
    return sa.delete(log).where(log.c.id.in_(chosen.scalar_subquery()))


def _old_log_batches(cutoff: datetime) -> sa.Delete:
    """Applied WriteLogs batch ids as old as the logs deleted: no retry comes that late.
    Few and small rows, so one statement."""
    return sa.delete(log_batch).where(log_batch.c.create_time < cutoff)


def _superseded_states(
    run_key: sa.Column[uuid.UUID], runs: sa.Table, cutoff: datetime
) -> sa.Delete:
    """Old rows of the history table ``run_key`` belongs to that are not their run's current
    state (read through the run's key)."""
    history = run_key.table
    current = sa.select(runs.c.state_id).where(runs.c.id == run_key).scalar_subquery()
    chosen = (
        sa.select(history.c.id)
        .where(history.c.timestamp < cutoff, history.c.id != current)
        .limit(BATCH)
    )
    return sa.delete(history).where(history.c.id.in_(chosen.scalar_subquery()))


class Retention:
    def __init__(self, database: Database, clock: Clock, settings: ServerSettings) -> None:
        self._db = database
        self._clock = clock
        self._settings = settings

    @property
    def enabled(self) -> bool:
        s = self._settings
        return s.log_retention_days is not None or s.state_retention_days is not None

    async def run_once(self) -> Pruned:
        """One pass: how many rows of each kind it deleted."""
        now = self._clock.now()
        logs = flow_states = task_states = 0
        if (days := self._settings.log_retention_days) is not None:
            logs = await self._delete(_old_logs(now - timedelta(days=days)))
            await self._delete(_old_log_batches(now - timedelta(days=days)))
        if (days := self._settings.state_retention_days) is not None:
            cutoff = now - timedelta(days=days)
            flows = _superseded_states(flow_run_state.c.flow_run_id, flow_run, cutoff)
            tasks = _superseded_states(task_run_state.c.task_run_id, task_run, cutoff)
            flow_states = await self._delete(flows)
            task_states = await self._delete(tasks)
        return Pruned(logs, flow_states, task_states)

    async def _delete(self, statement: sa.Delete) -> int:
        deleted = 0
        for _ in range(MAX_BATCHES):
            async with self._db.write() as conn:
                if not await loop_locks.try_lock(conn, "retention"):
                    return deleted
                count = (await conn.execute(statement)).rowcount
            deleted += count
            if count < BATCH:
                break
        return deleted
