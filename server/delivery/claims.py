"""Claiming due runs for one subscriber in one transaction, and giving a claim back.

A claim moves each run to PENDING through the flow-run rules (so a deployment's concurrency
limit holds) with a fresh lease, raises its attempt counter and records which runner and
subscription hold it. The assignment the runner receives is read back in the same
transaction, so it shows the run as PENDING.

Only runs of the runtimes the subscriber runs are claimed for it. Due runs are taken from
the pool's queues by priority (lower numbers first), then earliest
first, and never beyond the concurrency limit of the pool or of a queue (see
:mod:`runplane.server.db.pool_rules`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from runplane.server.db import deployments, flow_runs, held_runs, pool_rules
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.delivery_dialects import DeliveryDialect
from runplane.server.db.engine import Database
from runplane.server.delivery.transitions import propose
from runplane.server.delivery.work_items import Assignment
from runplane.server.orchestration import StateSpec, StateType


@dataclass(frozen=True, slots=True)
class Claimant:
    """The subscriber a claim is for."""

    pool: str
    queues: tuple[str, ...]
    runner_id: uuid.UUID
    session_id: uuid.UUID
    runtimes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Claimed:
    run_id: uuid.UUID
    lease_id: uuid.UUID
    item: Assignment


@dataclass(frozen=True, slots=True)
class ClaimResult:
    claimed: list[Claimed]
    candidates: int
    """How many due runs the query found: fewer than asked means the pool has no more."""
    limited: bool = False
    """The pool or one of its queues has a concurrency limit: a run ending may free room."""


async def claim(
    database: Database,
    dialect: DeliveryDialect,
    claimant: Claimant,
    limit: int,
    now: datetime,
    lease_seconds: float,
) -> ClaimResult:
    lease_expire_time = now + timedelta(seconds=lease_seconds)
    claimed: list[Claimed] = []
    async with database.write() as conn:
        rules = await pool_rules.read(conn, claimant.pool)
        if rules is not None and rules.paused:
            # A paused pool keeps its limits: it stays among the limited pools meanwhile.
            return ClaimResult(claimed, 0, limited=rules.limited)
        room = pool_rules.Room(None)
        selection = pool_rules.DueSelection()
        if rules is not None:
            if rules.limited:
                room = await pool_rules.lock_and_measure(conn, claimant.pool, rules)
                if room.pool is not None:
                    if room.pool <= 0:
                        return ClaimResult(claimed, 0, limited=True)
                    limit = min(limit, room.pool)
            selection = rules.selection(claimant.queues, room.full_queues)
        ids = await dialect.due_run_ids(
            conn, claimant.pool, claimant.queues, now, limit, selection, claimant.runtimes
        )
        order = {run_id: i for i, run_id in enumerate(ids)}
        runs = sorted(await held_runs.lock(conn, ids), key=lambda run: order[run.id])
        for run in runs:
            if not room.admits(run.work_queue_name):
                continue  # its queue filled up with runs claimed just before
            lease_id = uuid.uuid4()
            extra = {
                "lease_id": lease_id,
                "lease_expire_time": lease_expire_time,
                "attempt": run.attempt + 1,
                "runner_id": claimant.runner_id,
                "runner_session_id": claimant.session_id,
                "heartbeat_time": now,
            }
            pending = StateSpec(StateType.PENDING, lease_id=str(lease_id))
            decision = await propose(conn, run, pending, now, extra=extra)
            if decision.state is None or decision.state.type is not StateType.PENDING:
                continue  # e.g. the deployment's limit is full: the rules rescheduled it
            room.take(run.work_queue_name)
            item = await _assignment(conn, run.id, lease_id, lease_expire_time)
            if item is not None:
                claimed.append(Claimed(run.id, lease_id, item))
    return ClaimResult(claimed, len(ids), limited=rules is not None and rules.limited)


async def _assignment(
    conn: AsyncConnection, run_id: uuid.UUID, lease_id: uuid.UUID, lease_expire_time: datetime
) -> Assignment | None:
    record = await flow_runs.get(conn, run_id)
    if record is None:
        return None
    found = None
    if record.deployment_id is not None:
        found = await deployments.get(conn, record.deployment_id)
    return Assignment(record, found, lease_id, lease_expire_time)


async def give_back(
    database: Database, run_id: uuid.UUID, lease_id: uuid.UUID, now: datetime, reason: str
) -> bool:
    """Returns a claimed run that never reached its runner to SCHEDULED, due now."""
    async with database.write() as conn:
        runs = await held_runs.lock(conn, [run_id])
        if not runs or runs[0].lease_id != lease_id:
            return False
        return await reschedule(conn, runs[0], now, reason)


async def reschedule(
    conn: AsyncConnection, run: held_runs.HeldRun, now: datetime, reason: str
) -> bool:
    """Puts a locked PENDING run back to SCHEDULED, due now, its lease and holder cleared."""
    scheduled = StateSpec(StateType.SCHEDULED, message=reason, scheduled_time=now)
    extra = {
        "lease_id": None,
        "lease_expire_time": None,
        "runner_id": None,
        "runner_session_id": None,
    }
    decision = await propose(conn, run, scheduled, now, extra=extra)
    return decision.state is not None and decision.state.type is StateType.SCHEDULED
