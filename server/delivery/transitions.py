"""States the server sets on its own, decided by the same rules as a client's proposal.

The run is already locked (see :mod:`runplane.server.db.held_runs`); the decision and the
bookkeeping are exactly those of SetFlowRunState, so a claim, a reaper or the late marker
can never do what a client could not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from runplane.server.db import held_runs
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.held_runs import HeldRun
from runplane.server.delivery.written import record_written
from runplane.server.orchestration import Decision, Proposal, StateSpec, decide_flow_run
from runplane.server.transitions.deployment_slots import concurrency_gate
from runplane.server.transitions.state_writes import outcome, snapshot, state_write


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
    gate = await concurrency_gate(conn, run.deployment_id, run.id, proposed.type, force)
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
