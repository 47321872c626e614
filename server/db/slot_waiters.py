"""Runs waiting for a slot of their deployment's concurrency limit (AwaitingConcurrencySlot).

A run that finds its deployment's limit reached is rescheduled a little later. When a slot
frees, the earliest waiting runs of that deployment are chosen to be made due at once, so
that an enqueued run starts the moment it may, not when its retry time comes round.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa

from runplane.server.db import held_runs
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.held_runs import HeldRun
from runplane.server.db.tables import AWAITING_SLOT, deployment, flow_run
from runplane.server.orchestration.rules import SLOT_HOLDING_TYPES

# Waiting runs looked at in one call; the rest wait for the next freed slot or their time.
MAX_WAITING = 500

_WAITING = (AWAITING_SLOT, flow_run.c.deployment_id.is_not(None))


def _waiting() -> sa.Select[tuple[uuid.UUID, uuid.UUID | None, datetime | None]]:
    return sa.select(
        flow_run.c.id, flow_run.c.deployment_id, flow_run.c.next_scheduled_start_time
    ).where(*_WAITING)


async def any_waiting(conn: AsyncConnection) -> bool:
    query = sa.select(_waiting().limit(1).exists())
    return bool((await conn.execute(query)).scalar())


async def choose(conn: AsyncConnection, now: datetime) -> list[uuid.UUID]:
    """As many waiting runs of each deployment as it has free slots, earliest first, but
    for those already due (they take a slot when claimed, so they count against it)."""
    rows = (
        await conn.execute(
            _waiting().order_by(flow_run.c.next_scheduled_start_time).limit(MAX_WAITING)
        )
    ).all()
    if not rows:
        return []
    free = await _free_slots(conn, {row.deployment_id for row in rows})
    chosen: list[uuid.UUID] = []
    for row in rows:
        slots = free.get(row.deployment_id, 0)
        if slots <= 0:
            continue
        free[row.deployment_id] = slots - 1
        if row.next_scheduled_start_time is None or row.next_scheduled_start_time > now:
            chosen.append(row.id)
    return chosen


async def lock(conn: AsyncConnection, run_ids: list[uuid.UUID]) -> list[HeldRun]:
    """Those of the runs still waiting, locked (rows locked elsewhere are skipped: someone is
    changing them)."""
    if not run_ids:
        return []
    return await held_runs.lock_matching(
        conn, [flow_run.c.id.in_(run_ids), *_WAITING], len(run_ids)
    )


async def _free_slots(
    conn: AsyncConnection, deployment_ids: set[uuid.UUID | None]
) -> dict[uuid.UUID | None, int]:
    limits = await conn.execute(
        sa.select(deployment.c.id, deployment.c.concurrency_limit).where(
            deployment.c.id.in_(deployment_ids), deployment.c.concurrency_limit.is_not(None)
        )
    )
    held: dict[uuid.UUID | None, int] = defaultdict(int)
    counts = await conn.execute(
        sa.select(flow_run.c.deployment_id, sa.func.count())
        .where(
            flow_run.c.deployment_id.in_(deployment_ids),
            flow_run.c.state_type.in_(sorted(SLOT_HOLDING_TYPES)),
        )
        .group_by(flow_run.c.deployment_id)
    )
    for deployment_id, count in counts:
        held[deployment_id] = int(count)
    return {row.id: int(row.concurrency_limit) - held[row.id] for row in limits}
