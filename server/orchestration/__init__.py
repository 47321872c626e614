"""The state machine of flow runs and task runs, as pure functions of plain values.

No SQL, no protobuf, no I/O: :mod:`runplane.server.transitions` loads a `RunSnapshot` under
the run's row lock, calls a decision function, and applies what it returns in the same
transaction.

Deciding a proposal::

    decision = decide_flow_run(snapshot, Proposal(state, force, transition_id, lease_id), now)
    decision = decide_task_run(snapshot, proposal, now)  # SetTaskRunState

What a `Decision` asks of the caller:

- `status`: the answer's `OrchestrationStatus` (ACCEPT, REJECT, WAIT or ABORT).
- `state`: the state to write (and to answer with), already carrying the request's
  transition id and lease id, and a scheduled time on every SCHEDULED state. None means write
  nothing and answer with the run's current state. It is set on every ACCEPT and on a REJECT
  that substitutes a state (AwaitingRetry, AwaitingConcurrencySlot, Cancelled, Failed).
- `reason`: why the proposal was not taken as sent (also set on an altered ACCEPT).
- `wait_seconds`: with WAIT, the exact seconds until the proposal may be sent again.
- `duplicate`: the transition id is the run's last applied one; answer exactly as the first
  time (REJECT with the current state) and change nothing.
- `take_concurrency_slot`: take one of the deployment's concurrency slots for this attempt
  (only on an accepted PENDING; the limit was checked against `ConcurrencyGate.active`).
- `release_concurrency_slots`: the run leaves PENDING/RUNNING/CANCELLING; every slot it held
  (under the limits of its deployment, work pool and queue) is free for other runs.
- `clear_lease`: the run held a work-stream lease and the state written ends the attempt it
  fenced (a final state, or SCHEDULED for a new hand-out); clear the lease columns. The lease
  stays on the run through PENDING, RUNNING, PAUSED and CANCELLING.
- `rerun`: the run leaves a terminal state; clear any pause bookkeeping kept outside the state
  (`bookkeeping` already starts run_count over).

Whenever it writes a state, the caller records the proposal's transition id as the run's last
one and sets the run row's columns to `bookkeeping(RunTimes(...), decision.state, now)`. Task
runs reported in batches (client-orchestrated) use `bookkeeping` alone. All datetimes are
timezone-aware.
"""

from runplane.server.orchestration.bookkeeping import RunTimes, RunUpdate, bookkeeping
from runplane.server.orchestration.flow_rules import FLOW_RUN_RULES, decide_flow_run
from runplane.server.orchestration.model import (
    CollisionStrategy,
    ConcurrencyGate,
    Decision,
    Proposal,
    RunSnapshot,
    StateSpec,
)
from runplane.server.orchestration.retries import awaiting_retry_state, retry_delay
from runplane.server.orchestration.rules import Rule, RuleContext
from runplane.server.orchestration.states import (
    AWAITING_CONCURRENCY_SLOT,
    AWAITING_RETRY,
    LATE,
    RETRYING,
    SUSPENDED,
    TERMINAL_TYPES,
    OrchestrationStatus,
    StateType,
    default_state_name,
)
from runplane.server.orchestration.task_rules import (
    MAX_CACHE_KEY_LENGTH,
    TASK_RUN_RULES,
    decide_task_run,
)

__all__ = [
    "AWAITING_CONCURRENCY_SLOT",
    "AWAITING_RETRY",
    "FLOW_RUN_RULES",
    "LATE",
    "MAX_CACHE_KEY_LENGTH",
    "RETRYING",
    "SUSPENDED",
    "TASK_RUN_RULES",
    "TERMINAL_TYPES",
    "CollisionStrategy",
    "ConcurrencyGate",
    "Decision",
    "OrchestrationStatus",
    "Proposal",
    "Rule",
    "RuleContext",
    "RunSnapshot",
    "RunTimes",
    "RunUpdate",
    "StateSpec",
    "StateType",
    "awaiting_retry_state",
    "bookkeeping",
    "decide_flow_run",
    "decide_task_run",
    "default_state_name",
    "retry_delay",
]
