"""Fencing: whether a proposal may move a flow run at all, before any policy rule.

Both rules run under ``force`` too: forcing skips policy, never fencing.

- **Final means final.** A run in a final state (COMPLETED, FAILED, CANCELLED, CRASHED) is
  left only by a retry: SCHEDULED named AwaitingRetry, which starts a new attempt. Every other
  proposal is ABORT, whatever its transition id (a repeat of the last applied one is answered
  before fencing, by the duplicate rule).
- **The attempt's lease.** A run handed out by the work stream holds the lease of that hand-out
  from the claim until the attempt ends (a final state, or SCHEDULED again for a new hand-out:
  see ``rules.ends_attempt``). Every proposal about it presents that lease; another one is stale or
  foreign, none is missing, and both are ABORT. Without the lease a leased run may only be
  cancelled (a proposal of CANCELLING) or resumed from a pause (PAUSED to RUNNING): what an
  operator does. The server's own loops present the lease they read under the row lock.
"""

from __future__ import annotations

from runplane.server.orchestration.model import Decision, StateSpec
from runplane.server.orchestration.rules import ALL_TYPES, ANY_FROM, Rule, RuleContext
from runplane.server.orchestration.states import AWAITING_RETRY, TERMINAL_TYPES, StateType

STALE_LEASE = "the lease presented is not the run's current lease: it is stale or foreign"
MISSING_LEASE = "the run was handed out by the work stream: present its lease"
EXPIRED_LEASE = "the run's lease expired before the run started"


def is_retry(state: StateSpec) -> bool:
    """Whether ``state`` starts a new attempt of a finished run."""
    return state.type is StateType.SCHEDULED and state.name == AWAITING_RETRY


def _final(ctx: RuleContext) -> Decision | None:
    if is_retry(ctx.proposed):
        return None
    current = ctx.current
    name = current.name if current is not None else "finished"
    return Decision.abort(f"the run is {name}: a finished run only moves by a retry")


def _lease(ctx: RuleContext) -> Decision | None:
    held = ctx.snapshot.assigned_lease_id
    presented = ctx.proposal.lease_id
    if presented and presented != held:
        return Decision.abort(STALE_LEASE)
    if not held:
        return None
    if not presented:
        return None if _operator_may(ctx) else Decision.abort(MISSING_LEASE)
    starting = ctx.snapshot.state_type is StateType.PENDING
    if starting and ctx.proposed.type is StateType.RUNNING and ctx.snapshot.lease_expired:
        return Decision.abort(EXPIRED_LEASE)
    return None


def _operator_may(ctx: RuleContext) -> bool:
    """What anyone may do to a leased run without its lease: cancel it, or resume a pause."""
    target = ctx.proposed.type
    if target is StateType.CANCELLING:
        return True
    return ctx.snapshot.state_type is StateType.PAUSED and target is StateType.RUNNING


FINAL_STATES_ARE_FINAL = Rule(
    "final states are final", TERMINAL_TYPES, ALL_TYPES, _final, when_forced=True
)
ATTEMPT_LEASE = Rule("the attempt's lease", ANY_FROM, ALL_TYPES, _lease, when_forced=True)
