"""Rules keyed by (from type, to type), and the evaluation that turns them into one decision."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from runplane.server.orchestration.model import Decision, Proposal, RunSnapshot, StateSpec
from runplane.server.orchestration.states import TERMINAL_TYPES, OrchestrationStatus, StateType

ALL_TYPES: frozenset[StateType] = frozenset(StateType)
ANY_FROM: frozenset[StateType | None] = frozenset([None, *StateType])
"""Every current type, including None: the run has no state yet."""

# States during which a flow run holds its deployment concurrency slot.
SLOT_HOLDING_TYPES: frozenset[StateType] = frozenset(
    {StateType.PENDING, StateType.RUNNING, StateType.CANCELLING}
)


def ends_attempt(state: StateSpec) -> bool:
    """Whether writing ``state`` ends the attempt that a work-stream lease fences: a final
    state, or SCHEDULED, from where the run is handed out again under a new lease."""
    return state.type in TERMINAL_TYPES or state.type is StateType.SCHEDULED


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule sees: the run, the original proposal, and the proposal as altered so far."""

    snapshot: RunSnapshot
    proposal: Proposal
    proposed: StateSpec
    now: datetime

    @property
    def current(self) -> StateSpec | None:
        return self.snapshot.state

    @property
    def force(self) -> bool:
        return self.proposal.force


Check = Callable[[RuleContext], Decision | None]


@dataclass(frozen=True, slots=True)
class Rule:
    """One policy rule. `check` returns None for no opinion, or a decision.

    An ACCEPT from a rule lets evaluation go on with the (possibly altered) state it carries; any
    other status ends the evaluation. Rules are skipped under `force` unless `when_forced`.
    """

    name: str
    from_types: frozenset[StateType | None]
    to_types: frozenset[StateType]
    check: Check
    when_forced: bool = False

    def applies(self, from_type: StateType | None, to_type: StateType, force: bool) -> bool:
        if force and not self.when_forced:
            return False
        return from_type in self.from_types and to_type in self.to_types


def evaluate(
    rules: Iterable[Rule],
    snapshot: RunSnapshot,
    proposal: Proposal,
    now: datetime,
    *,
    deployment_slots: bool,
) -> Decision:
    """Applies `rules` in order and completes the resulting decision for the caller.

    `deployment_slots` says whether runs of this kind hold deployment concurrency slots, which
    leaving PENDING/RUNNING/CANCELLING releases.
    """
    proposed = proposal.state
    take_slot = False
    reason = ""
    for rule in rules:
        if not rule.applies(snapshot.state_type, proposed.type, proposal.force):
            continue
        decision = rule.check(RuleContext(snapshot, proposal, proposed, now))
        if decision is None:
            continue
        if decision.status is not OrchestrationStatus.ACCEPT or decision.state is None:
            return _complete(decision, snapshot, proposal, now, deployment_slots)
        proposed = decision.state
        take_slot = take_slot or decision.take_concurrency_slot
        reason = decision.reason or reason
    accepted = Decision(
        OrchestrationStatus.ACCEPT, proposed, reason, take_concurrency_slot=take_slot
    )
    return _complete(accepted, snapshot, proposal, now, deployment_slots)


def _complete(
    decision: Decision,
    snapshot: RunSnapshot,
    proposal: Proposal,
    now: datetime,
    deployment_slots: bool,
) -> Decision:
    if decision.state is None:
        if (
            decision.status is OrchestrationStatus.REJECT
            and snapshot.state is None
            and not decision.duplicate
        ):
            # There is no current state to fall back on, so a refusal must stop the client.
            return Decision.abort(decision.reason)
        return decision
    written = _stamp(decision.state, proposal, now)
    from_type = snapshot.state_type
    return dataclasses.replace(
        decision,
        state=written,
        take_concurrency_slot=decision.take_concurrency_slot and written.type is StateType.PENDING,
        release_concurrency_slots=deployment_slots
        and from_type in SLOT_HOLDING_TYPES
        and written.type not in SLOT_HOLDING_TYPES,
        clear_lease=bool(snapshot.assigned_lease_id) and ends_attempt(written),
        rerun=from_type in TERMINAL_TYPES and written.type not in TERMINAL_TYPES,
    )


def _stamp(state: StateSpec, proposal: Proposal, now: datetime) -> StateSpec:
    """The state as stored: the request's ids, and a due time for every SCHEDULED state."""
    scheduled_time = state.scheduled_time
    if state.type is StateType.SCHEDULED and scheduled_time is None:
        scheduled_time = now
    return dataclasses.replace(
        state,
        transition_id=proposal.transition_id or state.transition_id,
        lease_id=proposal.lease_id or state.lease_id,
        scheduled_time=scheduled_time,
    )
