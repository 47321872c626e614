"""The flow-run policy: semantics rules 1-13 as an ordered tuple of rules.

Evaluation order: duplicate transition (1), then fencing (see
:mod:`runplane.server.orchestration.fencing`): final states are final (2: only a retry leaves
one) and the attempt's lease (11: every proposal about a leased run presents its lease, from
RUNNING to the final state), then the initial-state guard, then rules 2-10 and 12 in their
numbered order. Rule 13 (slot release) is a flag set on every decision that writes a state.
Under `force` only the rules marked `when_forced` run: 1, the fencing rules, the CANCELLING
exit (3, terminal targets only), the bypass of CANCELLING for runs that never started (4),
and the guard against replacing a stored result with none.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from runplane.server.orchestration.common_rules import (
    DUPLICATE_TRANSITION,
    FLOW_INITIAL_STATE,
    NO_RESULT_LOSS,
    RENAME_RETRY,
    RETRY_FAILED,
    WAIT_FOR_SCHEDULED_TIME,
)
from runplane.server.orchestration.fencing import ATTEMPT_LEASE, FINAL_STATES_ARE_FINAL
from runplane.server.orchestration.model import Decision, Proposal, RunSnapshot, StateSpec
from runplane.server.orchestration.rules import ALL_TYPES, ANY_FROM, Rule, RuleContext, evaluate
from runplane.server.orchestration.states import (
    AWAITING_CONCURRENCY_SLOT,
    LATE,
    RESUMING,
    SUSPENDED,
    TERMINAL_TYPES,
    StateType,
)

_PENDING = frozenset({StateType.PENDING})
_RESUME_TYPES = frozenset({StateType.RUNNING, StateType.SCHEDULED})


def _keep_persisted_result(ctx: RuleContext) -> Decision | None:
    current = ctx.current
    if current is not None and current.result_persisted:
        return Decision.reject(None, "the run completed and its result is stored")
    return None


def _cancelling_exit(ctx: RuleContext) -> Decision | None:
    target = ctx.proposed.type
    if target is StateType.CANCELLED or (ctx.force and target in TERMINAL_TYPES):
        return None
    return Decision.reject(None, "a cancelling run can only become Cancelled")


def _bypass_cancelling(ctx: RuleContext) -> Decision | None:
    current = ctx.current
    if current is None:
        return None
    if current.type is StateType.PAUSED and current.name != SUSPENDED:
        return None  # a paused process is alive and must be stopped by its runner
    cancelled = StateSpec(StateType.CANCELLED, message=ctx.proposed.message)
    return Decision.accept(cancelled, "the run was not executing: cancelled directly")


def _no_double_start(ctx: RuleContext) -> Decision | None:
    current = ctx.current
    if (
        current is not None
        and current.type is StateType.PENDING
        and current.name != ctx.proposed.name
    ):
        return None  # renaming a pending state (e.g. NotReady) is not a second start
    return Decision.abort("the run was already started")


def _deployment_concurrency(ctx: RuleContext) -> Decision | None:
    gate = ctx.snapshot.deployment_concurrency
    if gate is None:
        return None
    if gate.limit <= 0:
        return Decision.abort("the deployment's concurrency limit is 0")
    if gate.active < gate.limit:
        accepted = Decision.accept(ctx.proposed)
        return dataclasses.replace(accepted, take_concurrency_slot=True)
    reason = f"the deployment's concurrency limit ({gate.limit}) is reached"
    if gate.strategy == "CANCEL_NEW":
        return Decision.reject(StateSpec(StateType.CANCELLED, message=reason), reason)
    retry_at = ctx.now + timedelta(seconds=gate.enqueue_delay_seconds)
    waiting = StateSpec(
        StateType.SCHEDULED, AWAITING_CONCURRENCY_SLOT, message=reason, scheduled_time=retry_at
    )
    return Decision.reject(waiting, reason)


def _late_only_when_scheduled(ctx: RuleContext) -> Decision | None:
    if ctx.proposed.name != LATE:
        return None
    current = ctx.current
    if current is None or current.type is not StateType.SCHEDULED or current.name == LATE:
        return Decision.reject(None, "only a scheduled run that is not late can become Late")
    return None


def _pausing(ctx: RuleContext) -> Decision | None:
    if ctx.snapshot.state_type is not StateType.RUNNING:
        return Decision.abort("only a running run can pause")
    if ctx.proposed.name == SUSPENDED and not ctx.snapshot.has_deployment:
        return Decision.abort("only a deployment's run can be suspended")
    if ctx.proposed.name == SUSPENDED and ctx.snapshot.is_subflow:
        return Decision.abort("a subflow run cannot be suspended")
    return None


def _resuming(ctx: RuleContext) -> Decision | None:
    target = ctx.proposed.type
    allowed = target in _RESUME_TYPES or target in TERMINAL_TYPES
    if not allowed and target is not StateType.CANCELLING:
        return Decision.reject(None, "a paused run can only resume, be rescheduled or end")
    if target in _RESUME_TYPES and _pause_expired(ctx.current, ctx.now):
        failed = StateSpec(StateType.FAILED, message="the run was paused and never resumed")
        return Decision.reject(failed, "the pause deadline passed")
    if target is StateType.RUNNING and ctx.current is not None and ctx.current.name == SUSPENDED:
        # No process waits to go on: resuming a suspension hands the run to its runners again.
        resuming = StateSpec(
            StateType.SCHEDULED, RESUMING, message="resumed", scheduled_time=ctx.now
        )
        return Decision.reject(resuming, "a suspended run is resumed by scheduling it again")
    return None


def _pause_expired(current: StateSpec | None, now: datetime) -> bool:
    deadline = None if current is None else current.pause_deadline
    return deadline is not None and deadline <= now


def _copy_scheduled_time(ctx: RuleContext) -> Decision | None:
    current = ctx.current
    if current is None or current.scheduled_time is None:
        return None
    return Decision.accept(dataclasses.replace(ctx.proposed, scheduled_time=current.scheduled_time))


FLOW_RUN_RULES: tuple[Rule, ...] = (
    DUPLICATE_TRANSITION,  # 1
    FINAL_STATES_ARE_FINAL,  # 2
    ATTEMPT_LEASE,  # 11
    FLOW_INITIAL_STATE,
    Rule(  # 2
        "keep a stored result",
        frozenset({StateType.COMPLETED}),
        ALL_TYPES,
        _keep_persisted_result,
    ),
    NO_RESULT_LOSS,
    Rule(  # 3
        "cancelling ends cancelled",
        frozenset({StateType.CANCELLING}),
        ALL_TYPES,
        _cancelling_exit,
        when_forced=True,
    ),
    Rule(  # 4
        "cancel runs that are not executing",
        frozenset({StateType.SCHEDULED, StateType.PAUSED}),
        frozenset({StateType.CANCELLING}),
        _bypass_cancelling,
        when_forced=True,
    ),
    Rule(  # 5
        "no double start",
        frozenset(
            {StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.CANCELLED}
        ),
        _PENDING,
        _no_double_start,
    ),
    Rule("deployment concurrency", ANY_FROM, _PENDING, _deployment_concurrency),  # 6
    Rule(  # 7
        "late only when scheduled",
        ANY_FROM,
        frozenset({StateType.SCHEDULED}),
        _late_only_when_scheduled,
    ),
    Rule("pause only when running", ANY_FROM, frozenset({StateType.PAUSED}), _pausing),  # 8
    Rule("leave a pause", frozenset({StateType.PAUSED}), ALL_TYPES, _resuming),  # 8
    Rule(  # 9
        "copy scheduled time",
        frozenset({StateType.SCHEDULED}),
        _PENDING,
        _copy_scheduled_time,
    ),
    WAIT_FOR_SCHEDULED_TIME,  # 10
    RENAME_RETRY,
    RETRY_FAILED,  # 12
)


def decide_flow_run(snapshot: RunSnapshot, proposal: Proposal, now: datetime) -> Decision:
    """Decides a proposed flow-run state; see the package docstring for the decision's meaning."""
    return evaluate(FLOW_RUN_RULES, snapshot, proposal, now, deployment_slots=True)
