"""States the server sets on its own, decided by the same rules as a client's proposal.

The run is already locked (see :mod:`runplane.server.db.held_runs`); the decision and the
bookkeeping are exactly those of SetFlowRunState, so a claim, a reaper or the late marker
can never do what a client could not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from runplane.server.api.flow_run_transitions import strategy
from runplane.server.api.run_transitions import outcome, snapshot, state_write
from runplane.server.db import flow_runs, held_runs
from runplane.server.db.held_runs import HeldRun
from runplane.server.delivery.written import record_written
from runplane.server.orchestration import (
    ConcurrencyGate,
    Decision,
    Proposal,
    StateSpec,
    StateType,
    decide_flow_run,
)

__all__ = ["propose", "snapshot"]


async def _gate(
    conn: AsyncConnection, run: HeldRun, target: StateType, force: bool
) -> ConcurrencyGate | None:
    if force or target is not StateType.PENDING or run.deployment_id is None:
        return None
    _, gate = await flow_runs.deployment_gate(conn, run.deployment_id)
    if gate is None:
        return None
    active = await flow_runs.count_active(conn, run.deployment_id, run.id)
    return ConcurrencyGate(gate.limit, active, strategy(gate.collision_strategy))


async def propose(
    conn: AsyncConnection,
    run: HeldRun,
    proposed: StateSpec,
    now: datetime,
    *,
    force: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Decision:
    """Decides ``proposed`` for the locked run and writes what the decision says.

    The proposal presents the lease read under the lock: the server's loops act for whoever
    holds the run. A claim puts the lease it grants in ``proposed.lease_id``. ``extra``
    columns are written only when the decision writes the proposed type.
    """
    gate = await _gate(conn, run, proposed.type, force)
    held = str(run.lease_id) if run.lease_id is not None else ""
    proposal = Proposal(proposed, force=force, lease_id=held)
    decision = decide_flow_run(snapshot(run, now, gate), proposal, now)
    if decision.state is None:
        return decision
    result = outcome("", decision.status, decision.reason)
    before = (run.times, run.state)
    write = state_write(decision.state, None, before, result, now, clear_lease=decision.clear_lease)
    same_type = decision.state.type is proposed.type
    await held_runs.write_state(conn, run.id, write, extra if extra and same_type else {})
    record_written(run.id, write.state, frees_slots=decision.release_concurrency_slots)
    return decision
