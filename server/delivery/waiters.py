"""Makes due at once the runs waiting for a slot of their deployment's concurrency limit,
as slots free (see :mod:`runplane.server.db.slot_waiters`)."""

from __future__ import annotations

from runplane.server.clock import Clock
from runplane.server.db import slot_waiters
from runplane.server.db.engine import Database
from runplane.server.delivery.transitions import propose
from runplane.server.orchestration import StateSpec, StateType

_MESSAGE = "a slot of the deployment's concurrency limit is free"


async def make_waiters_due(database: Database, clock: Clock) -> set[str]:
    """Reschedules for now as many waiting runs as their deployments have free slots; the
    work pools of those runs."""
    async with database.read() as conn:
        if not await slot_waiters.any_waiting(conn):
            return set()
    now = clock.now()
    pools: set[str] = set()
    async with database.write() as conn:
        chosen = await slot_waiters.choose(conn, now)
        for run in await slot_waiters.lock(conn, chosen):  # unless claimed or changed since
            due = StateSpec(StateType.SCHEDULED, message=_MESSAGE, scheduled_time=now)
            decision = await propose(conn, run, due, now, force=True)
            if decision.state is not None and run.work_pool_name:
                pools.add(run.work_pool_name)
    return pools
