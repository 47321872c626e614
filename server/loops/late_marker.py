"""The late marker: SCHEDULED runs more than ``late_after`` seconds past due become Late.

They stay SCHEDULED, so they are still handed out as soon as a runner can take them. When no
runner is subscribed to the run's work pool, or none that runs the run's runtime, on this
server or (as announced over PostgreSQL) on another one, the state's message says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from runplane.server.clock import Clock
from runplane.server.db import held_runs, loop_locks
from runplane.server.db.engine import Database
from runplane.server.db.held_runs import HeldRun
from runplane.server.db.scheduled_runs import SCHEDULED_NAME
from runplane.server.db.tables import flow_run
from runplane.server.delivery.transitions import propose
from runplane.server.orchestration import LATE, StateSpec, StateType
from runplane.server.settings import ServerSettings

BATCH = 200

RunnerCheck = Callable[[str, str | None], bool]
"""Whether a runner is subscribed to the work pool (and runs the runtime, unless None)."""


def late_message(run: HeldRun, has_runner: RunnerCheck) -> str:
    pool = run.work_pool_name
    if pool is None:
        return "the run is late: it has no work pool, so no runner will start it"
    if not has_runner(pool, None):
        return f"the run is late: no runner is subscribed to work pool {pool!r}"
    if not has_runner(pool, run.runtime):
        return (
            f"the run is late: no runner of runtime {run.runtime!r} is subscribed to work pool "
            f"{pool!r}"
        )
    return f"the run is late: the runners of work pool {pool!r} have no free slot"


class LateMarker:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        settings: ServerSettings,
        has_runner: RunnerCheck,
    ) -> None:
        self._db = database
        self._clock = clock
        self._settings = settings
        self._has_runner = has_runner

    async def run_once(self) -> int:
        """Marks the late runs; how many."""
        now = self._clock.now()
        where = [
            flow_run.c.state_type == StateType.SCHEDULED,
            flow_run.c.state_name == SCHEDULED_NAME,
            flow_run.c.next_scheduled_start_time
            < now - timedelta(seconds=self._settings.late_after),
        ]
        count = 0
        async with self._db.write() as conn:
            if not await loop_locks.try_lock(conn, "late marker"):
                return 0
            for run in await held_runs.lock_matching(conn, where, BATCH):
                late = StateSpec(
                    StateType.SCHEDULED,
                    LATE,
                    message=late_message(run, self._has_runner),
                    scheduled_time=run.times.next_scheduled_start_time,
                )
                decision = await propose(conn, run, late, now)
                count += decision.state is not None
        return count
