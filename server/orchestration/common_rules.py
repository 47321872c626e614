"""Rules that flow runs and task runs share."""

from __future__ import annotations

import dataclasses

from runplane.server.orchestration.model import Decision
from runplane.server.orchestration.retries import awaiting_retry_state
from runplane.server.orchestration.rules import ALL_TYPES, ANY_FROM, Rule, RuleContext
from runplane.server.orchestration.states import (
    AWAITING_RETRY,
    RETRYING,
    OrchestrationStatus,
    StateType,
    default_state_name,
)

DUPLICATE_REASON = "duplicate transition"
INITIAL_TYPES: frozenset[StateType] = frozenset({StateType.SCHEDULED, StateType.PENDING})


def _duplicate(ctx: RuleContext) -> Decision | None:
    transition_id = ctx.proposal.transition_id
    if transition_id and transition_id == ctx.snapshot.current_transition_id:
        return Decision(OrchestrationStatus.REJECT, None, DUPLICATE_REASON, duplicate=True)
    return None


def _initial(ctx: RuleContext) -> Decision | None:
    name = default_state_name(ctx.proposed.type)
    return Decision.abort(f"a new run starts SCHEDULED or PENDING, not {name}")


def _flow_initial(ctx: RuleContext) -> Decision | None:
    # A flow run started by its own process (no deployment, so no lease to present) may be
    # created RUNNING: one round trip instead of two.
    if ctx.proposed.type is StateType.RUNNING and not ctx.snapshot.has_deployment:
        return None
    return _initial(ctx)


def _no_result_loss(ctx: RuleContext) -> Decision | None:
    current = ctx.current
    if current is not None and current.result_persisted and not ctx.proposed.result_persisted:
        return Decision.reject(None, "a completion without a stored result would replace one")
    return None


def _wait_for_scheduled_time(ctx: RuleContext) -> Decision | None:
    current = ctx.current
    if current is None or current.scheduled_time is None:
        return None
    remaining = (current.scheduled_time - ctx.now).total_seconds()
    if remaining <= 0:
        return None
    return Decision.wait(remaining, "the run is scheduled later")


def _rename_retry(ctx: RuleContext) -> Decision | None:
    current = ctx.current
    proposed = ctx.proposed
    if current is None or current.name != AWAITING_RETRY:
        return None
    if proposed.name != default_state_name(StateType.RUNNING):
        return None
    return Decision.accept(dataclasses.replace(proposed, name=RETRYING))


def _retry_failed(ctx: RuleContext) -> Decision | None:
    retry = awaiting_retry_state(ctx.snapshot, ctx.proposed, ctx.now)
    if retry is None:
        return None
    return Decision.reject(retry, "retrying: the run has retries left")


DUPLICATE_TRANSITION = Rule(
    "duplicate transition", ANY_FROM, ALL_TYPES, _duplicate, when_forced=True
)
INITIAL_STATE = Rule("initial state", frozenset([None]), ALL_TYPES - INITIAL_TYPES, _initial)
FLOW_INITIAL_STATE = Rule(
    "initial state", frozenset([None]), ALL_TYPES - INITIAL_TYPES, _flow_initial
)
NO_RESULT_LOSS = Rule(
    "no result loss",
    frozenset({StateType.COMPLETED}),
    frozenset({StateType.COMPLETED}),
    _no_result_loss,
    when_forced=True,
)
WAIT_FOR_SCHEDULED_TIME = Rule(
    "wait for scheduled time",
    frozenset({StateType.SCHEDULED, StateType.PENDING}),
    frozenset({StateType.RUNNING}),
    _wait_for_scheduled_time,
)
RENAME_RETRY = Rule(
    "rename retries",
    frozenset({StateType.SCHEDULED}),
    frozenset({StateType.RUNNING}),
    _rename_retry,
)
RETRY_FAILED = Rule(
    "retry failed runs",
    frozenset({StateType.RUNNING}),
    frozenset({StateType.FAILED}),
    _retry_failed,
)
