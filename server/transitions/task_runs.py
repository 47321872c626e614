"""Orchestrating a task run's proposed state inside one transaction: a client's proposal
(SetTaskRunState), a task worker's claim, or the lease reaper's.

The run row is locked by the caller; the rules decide (the attempt's lease first, for a run a
task worker holds); the state and its bookkeeping are written in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runplane.server.db import task_runs
from runplane.server.db.flow_runs import Connection
from runplane.server.db.run_records import LockedRun, StateRecord
from runplane.server.orchestration import Decision, Proposal, StateSpec, StateType, decide_task_run
from runplane.server.transitions.state_writes import outcome, snapshot, state_write
from runplane.server.transitions.stored_states import ProposedState


@dataclass(frozen=True, slots=True)
class TaskRunResult:
    """The rules' decision and the run's state after it (None: the run has none)."""

    decision: Decision
    state: StateRecord | None

    @property
    def written(self) -> bool:
        return self.decision.state is not None


def cache_entry(
    written: StateSpec, proposed: ProposedState | None
) -> tuple[str, datetime | None] | None:
    """The cache entry a written state records on its task run, if any."""
    if written.type is not StateType.COMPLETED or not written.cache_key:
        return None
    expiration = proposed.cache_expiration if proposed is not None else None
    return written.cache_key, expiration


async def propose(
    conn: Connection,
    locked: LockedRun,
    proposed: ProposedState,
    now: datetime,
    *,
    force: bool = False,
    transition_id: str = "",
    lease_id: str = "",
) -> TaskRunResult:
    """Decides ``proposed`` for the locked run and writes what the rules decided."""
    proposal = Proposal(proposed.spec, force, transition_id, lease_id)
    decision = decide_task_run(snapshot(locked, now), proposal, now)
    if decision.state is None:
        return TaskRunResult(decision, locked.state)
    result = outcome(transition_id, decision.status, decision.reason)
    write = state_write(decision.state, proposed, (locked.times, locked.state), result, now)
    await task_runs.write_state(conn, locked, write, cache_entry(decision.state, proposed))
    return TaskRunResult(decision, write.state)
