"""Orchestrating a flow run's proposed state inside one transaction.

The transaction shape, per proposal: lock the run row (one SELECT ... FOR UPDATE that also
reads the flow's name and the deployment's concurrency limit), decide, then one UPDATE of the
run row (RETURNING it, for the watchers) and one INSERT of the state. Only a move to PENDING
of a run whose deployment has a concurrency limit adds two statements: lock the deployment
row, then count the other runs holding a slot.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from runplane.server.api.errors import failed_precondition, not_found
from runplane.server.api.flow_run_messages import FlowRunEvent
from runplane.server.api.run_transitions import outcome, snapshot, state_write
from runplane.server.api.states import ProposedState, decision_result, orchestration_result
from runplane.server.db import flow_runs
from runplane.server.db.flow_runs import Connection
from runplane.server.db.run_records import NO_TIMES, LockedRun, StateWrite
from runplane.server.orchestration import (
    CollisionStrategy,
    ConcurrencyGate,
    Decision,
    Proposal,
    RunSnapshot,
    StateType,
    decide_flow_run,
)
from runplane.v1 import states_pb2

CANCEL_NEW = 2  # runplane.v1.CollisionStrategy.COLLISION_STRATEGY_CANCEL_NEW


@dataclass(frozen=True, slots=True)
class Transition:
    """A proposal from a request, validated."""

    run_id: uuid.UUID
    proposed: ProposedState
    force: bool = False
    transition_id: str = ""
    lease_id: str = ""

    def proposal(self) -> Proposal:
        return Proposal(self.proposed.spec, self.force, self.transition_id, self.lease_id)


def strategy(collision_strategy: int) -> CollisionStrategy:
    return "CANCEL_NEW" if collision_strategy == CANCEL_NEW else "ENQUEUE"


async def concurrency_gate(
    conn: Connection, locked: LockedRun, target: StateType, force: bool
) -> ConcurrencyGate | None:
    """The deployment's slots as seen by this run, when the proposal would take one.

    Slots are derived from states: a run holds one while PENDING, RUNNING or CANCELLING, so
    leaving those states releases it in the same transaction and nothing can leak. Locking the
    deployment row first makes concurrent proposals count one after the other.
    """
    if force or target is not StateType.PENDING or locked.deployment_gate is None:
        return None
    assert locked.deployment_id is not None
    _, gate = await flow_runs.deployment_gate(conn, locked.deployment_id)
    if gate is None:
        return None
    active = await flow_runs.count_active(conn, locked.deployment_id, locked.id)
    return ConcurrencyGate(gate.limit, active, strategy(gate.collision_strategy))


def duplicate_result(
    locked: LockedRun, transition: Transition
) -> states_pb2.OrchestrationResult | None:
    """The first answer again, when the proposal repeats the run's last applied transition."""
    last = locked.last
    if transition.transition_id and last and last.transition_id == transition.transition_id:
        return orchestration_result(last.status, locked.state, last.reason)
    return None


def needs_gate(locked: LockedRun, transition: Transition) -> bool:
    """Whether deciding the proposal needs the deployment's slot count (see concurrency_gate)."""
    return (
        not transition.force
        and transition.proposed.spec.type is StateType.PENDING
        and locked.deployment_gate is not None
    )


class Decided(NamedTuple):
    """The answer to a proposal that is not a duplicate, and what to write for it."""

    result: states_pb2.OrchestrationResult
    write: StateWrite | None
    """The state to write with its bookkeeping; None when nothing is written."""
    frees_slots: bool
    """The write takes the run out of PENDING, RUNNING or CANCELLING: the slots it held under
    the limits of its deployment, work pool and queue are free for other runs."""


def decide(
    locked: LockedRun, transition: Transition, now: datetime, gate: ConcurrencyGate | None
) -> Decided:
    decision = decide_flow_run(snapshot(locked, now, gate), transition.proposal(), now)
    if decision.state is None:
        return Decided(decision_result(decision, locked.state), None, False)
    write = state_write(
        decision.state,
        transition.proposed,
        (locked.times, locked.state),
        outcome(transition.transition_id, decision.status, decision.reason),
        now,
        clear_lease=decision.clear_lease,
    )
    result = decision_result(decision, write.state)
    return Decided(result, write, decision.release_concurrency_slots)


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one proposal did."""

    result: states_pb2.OrchestrationResult
    event: FlowRunEvent | None = None
    """For the watchers, when someone is watching and a state was written."""
    freed_slots: bool = False
    written: uuid.UUID | None = None
    """The id of the state written, if one was."""


async def set_state(
    conn: Connection, transition: Transition, now: datetime, *, watched: bool
) -> Applied:
    """Decides and applies the proposal.

    When someone is `watched`-ing, the run is read back for the event they receive after
    the commit; otherwise that read is skipped.
    """
    locked = await flow_runs.lock(conn, transition.run_id)
    if locked is None:
        raise not_found("flow run", transition.run_id)
    repeated = duplicate_result(locked, transition)
    if repeated is not None:
        return Applied(repeated)
    target = transition.proposed.spec.type
    gate = await concurrency_gate(conn, locked, target, transition.force)
    decided = decide(locked, transition, now, gate)
    if decided.write is None:
        return Applied(decided.result)
    write = decided.write
    record = await flow_runs.write_state(conn, locked, write, fetch=watched)
    event = FlowRunEvent(record, write.state) if record is not None else None
    return Applied(decided.result, event, decided.frees_slots, write.state.id)


def first_write(
    proposed: ProposedState, gate: ConcurrencyGate | None, has_deployment: bool, now: datetime
) -> StateWrite:
    """A new run's first state with its bookkeeping, or FAILED_PRECONDITION if refused."""
    decision = initial_decision(proposed, gate, has_deployment, now)
    if decision.state is None:
        raise failed_precondition("INITIAL_STATE_REFUSED", decision.reason)
    result = outcome("", decision.status, decision.reason)
    return state_write(decision.state, proposed, (NO_TIMES, None), result, now)


def initial_decision(
    proposed: ProposedState, gate: ConcurrencyGate | None, has_deployment: bool, now: datetime
) -> Decision:
    """The decision on a new run's first state, as for any proposal on a run without one."""
    empty = RunSnapshot(has_deployment=has_deployment, deployment_concurrency=gate)
    return decide_flow_run(empty, Proposal(proposed.spec), now)
