"""Reapers: runs whose runner went away are given back, crashed or finally cancelled.

- Lease reaper: a PENDING run whose assignment lease expired goes back to SCHEDULED, due now,
  for another runner (a RUNNING proposal under the old lease is then refused: rule 11).
- Heartbeat reaper: a RUNNING run without a heartbeat for ``heartbeat_timeout`` becomes
  CRASHED, or AwaitingRetry when it has retries left, so that it runs again. Only watched runs
  count: claimed ones, those created with ``expect_heartbeats``, and any heartbeated once.
  A Paused run counts too: its process waits alive to be resumed and keeps heartbeating, so
  silence means it died (a Suspended run has no process, and is left alone).
- Cancellation timeout: a run CANCELLING for longer than ``cancellation_timeout`` becomes
  CANCELLED (its slots are free again).

Each pass takes a loop lock (one server process at a time) and locks the rows it changes.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from runplane.server.clock import Clock
from runplane.server.db import held_runs, loop_locks
from runplane.server.db.engine import Database
from runplane.server.db.tables import PENDING_LEASED, flow_run
from runplane.server.delivery.claims import reschedule
from runplane.server.delivery.transitions import propose
from runplane.server.orchestration import (
    SUSPENDED,
    StateSpec,
    StateType,
    awaiting_retry_state,
)
from runplane.server.settings import ServerSettings
from runplane.server.transitions.state_writes import snapshot

BATCH = 200
_CLEAR_HOLDER = {
    "lease_id": None,
    "lease_expire_time": None,
    "runner_id": None,
    "runner_session_id": None,
}


class Reapers:
    def __init__(self, database: Database, clock: Clock, settings: ServerSettings) -> None:
        self._db = database
        self._clock = clock
        self._settings = settings

    async def expire_leases(self) -> set[str]:
        """Expired assignments back to SCHEDULED; the pools that have runs due again."""
        now = self._clock.now()
        where = [PENDING_LEASED, flow_run.c.lease_expire_time < now]  # the index's condition
        pools: set[str] = set()
        async with self._db.write() as conn:
            if not await loop_locks.try_lock(conn, "lease reaper"):
                return pools
            for run in await held_runs.lock_matching(conn, where, BATCH):
                reason = "the assignment's lease expired before the run started"
                if await reschedule(conn, run, now, reason) and run.work_pool_name:
                    pools.add(run.work_pool_name)
        return pools

    async def crash_silent_runs(self) -> set[str]:
        """RUNNING runs without heartbeats: CRASHED, or AwaitingRetry; pools with retries."""
        now = self._clock.now()
        timeout = self._settings.heartbeat_timeout
        silent_since = now - timedelta(seconds=timeout)
        # Silence counts while the run is RUNNING (or Paused): one that starts again (after a
        # retry's wait, say) gets the whole timeout before its first heartbeat of this attempt.
        where = [
            sa.or_(
                flow_run.c.state_type == StateType.RUNNING,
                sa.and_(
                    flow_run.c.state_type == StateType.PAUSED,
                    flow_run.c.state_name != SUSPENDED,
                ),
            ),
            flow_run.c.heartbeat_time.is_not(None),
            flow_run.c.heartbeat_time < silent_since,
            flow_run.c.state_timestamp < silent_since,
        ]
        pools: set[str] = set()
        async with self._db.write() as conn:
            if not await loop_locks.try_lock(conn, "heartbeat reaper"):
                return pools
            for run in await held_runs.lock_matching(conn, where, BATCH):
                message = f"no heartbeat from the run's runner or process for {timeout:g} s"
                crashed = StateSpec(StateType.CRASHED, message=message)
                retry = awaiting_retry_state(snapshot(run, now), crashed, now)
                state = retry or crashed
                await propose(conn, run, state, now, force=True, extra=_CLEAR_HOLDER)
                if retry is not None and run.work_pool_name:
                    pools.add(run.work_pool_name)
        return pools

    async def finish_cancellations(self) -> int:
        """CANCELLING for too long: CANCELLED. How many."""
        now = self._clock.now()
        timeout = self._settings.cancellation_timeout
        where = [
            flow_run.c.state_type == StateType.CANCELLING,
            flow_run.c.state_timestamp < now - timedelta(seconds=timeout),
        ]
        count = 0
        async with self._db.write() as conn:
            if not await loop_locks.try_lock(conn, "cancellation timeout"):
                return 0
            for run in await held_runs.lock_matching(conn, where, BATCH):
                message = f"the run did not stop within {timeout:g} s of being cancelled"
                cancelled = StateSpec(StateType.CANCELLED, message=message)
                decision = await propose(conn, run, cancelled, now, force=True, extra=_CLEAR_HOLDER)
                count += decision.state is not None
        return count
