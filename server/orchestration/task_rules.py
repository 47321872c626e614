"""The task-run policy for states proposed through SetTaskRunState.

Task runs reported in batches (ReportTaskRuns) were orchestrated by their client: they skip
these rules and only go through `bookkeeping`. A background run a task worker holds is fenced
by the lease of its hand-out, as a flow run on the work stream is (`fencing.ATTEMPT_LEASE`).
"""

from __future__ import annotations

from datetime import datetime

from runplane.server.orchestration.common_rules import (
    DUPLICATE_TRANSITION,
    INITIAL_STATE,
    NO_RESULT_LOSS,
    RENAME_RETRY,
    RETRY_FAILED,
    WAIT_FOR_SCHEDULED_TIME,
)
from runplane.server.orchestration.fencing import ATTEMPT_LEASE
from runplane.server.orchestration.model import Decision, Proposal, RunSnapshot
from runplane.server.orchestration.rules import ALL_TYPES, ANY_FROM, Rule, RuleContext, evaluate
from runplane.server.orchestration.states import TERMINAL_TYPES, StateType

MAX_CACHE_KEY_LENGTH = 2000


def _terminal(ctx: RuleContext) -> Decision | None:
    current = ctx.current
    if current is None:
        return None
    if current.type is StateType.COMPLETED and current.result_persisted:
        return Decision.reject(None, "the task run completed and its result is stored")
    return Decision.reject(None, f"the task run is already {current.name}")


def _no_double_start(ctx: RuleContext) -> Decision | None:
    return Decision.abort("the task run is already running")


def _cache_key_length(ctx: RuleContext) -> Decision | None:
    if len(ctx.proposed.cache_key) > MAX_CACHE_KEY_LENGTH:
        return Decision.reject(
            None, f"the cache key is longer than {MAX_CACHE_KEY_LENGTH} characters"
        )
    return None


TASK_RUN_RULES: tuple[Rule, ...] = (
    DUPLICATE_TRANSITION,
    INITIAL_STATE,
    # A background run handed to a task worker moves only under the lease of that hand-out.
    ATTEMPT_LEASE,
    Rule(
        "terminal task runs stay finished",
        TERMINAL_TYPES,
        ALL_TYPES,
        _terminal,
    ),
    NO_RESULT_LOSS,
    Rule(
        "no double start",
        frozenset({StateType.RUNNING}),
        frozenset({StateType.PENDING}),
        _no_double_start,
    ),
    WAIT_FOR_SCHEDULED_TIME,
    RENAME_RETRY,
    RETRY_FAILED,
    Rule("cache key length", ANY_FROM, ALL_TYPES, _cache_key_length, when_forced=True),
)


def decide_task_run(snapshot: RunSnapshot, proposal: Proposal, now: datetime) -> Decision:
    """Decides a proposed task-run state; see the package docstring for the decision's meaning."""
    return evaluate(TASK_RUN_RULES, snapshot, proposal, now, deployment_slots=False)
