"""Orchestrating a flow run's proposed state inside one transaction.

The transaction shape, per proposal: lock the run row (one SELECT ... FOR UPDATE that also
reads the flow's name and the deployment's concurrency limit), decide, then one UPDATE of the
run row (RETURNING it, for the watchers) and one INSERT of the state. Only a move to PENDING
of a run whose deployment has a concurrency limit adds two statements: lock the deployment
row, then count the other runs holding a slot.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from runplane.server.db import flow_runs
from runplane.server.db.flow_runs import Connection
from runplane.server.db.run_records import NO_TIMES, LockedRun, StateRecord, StateWrite
from runplane.server.orchestration import (
    ConcurrencyGate,
    Decision,
    Proposal,
    RunSnapshot,
    StateType,
    decide_flow_run,
)
from runplane.server.orchestration.pause_input import input_problem
from runplane.server.transitions.deployment_slots import concurrency_gate
from runplane.server.transitions.events import FlowRunEvent
from runplane.server.transitions.state_writes import outcome, snapshot, state_write
from runplane.server.transitions.stored_states import (
    PAUSE_INPUT_SCHEMA,
    RESUME_INPUT,
    ProposedState,
    spec_from_record,
)


class RunMissing(Exception):
    """The run proposed to does not exist."""

    def __init__(self, run_id: uuid.UUID) -> None:
        super().__init__(f"flow run {run_id} does not exist")
        self.run_id = run_id


class ResumeInputRefused(Exception):
    """A resume of a run paused for input brought none, or input its schema refuses."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        """Where in the input the problem is; empty for the input as a whole."""
        self.message = message


class InitialStateRefused(Exception):
    """The rules refused a new run's first state."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Result:
    """The answer to a proposal: its status, the run's state after it (None: the run has
    none), why it was not taken as sent, and with WAIT how long to wait."""

    status: int
    state: StateRecord | None
    reason: str
    wait_seconds: float = 0.0


def decision_result(decision: Decision, state: StateRecord | None) -> Result:
    return Result(int(decision.status), state, decision.reason, decision.wait_seconds)


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


def duplicate_result(locked: LockedRun, transition: Transition) -> Result | None:
    """The first answer again, when the proposal repeats the run's last applied transition."""
    last = locked.last
    if transition.transition_id and last and last.transition_id == transition.transition_id:
        return Result(last.status, locked.state, last.reason)
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

    result: Result
    write: StateWrite | None
    """The state to write with its bookkeeping; None when nothing is written."""
    frees_slots: bool
    """The write takes the run out of PENDING, RUNNING or CANCELLING: the slots it held under
    the limits of its deployment, work pool and queue are free for other runs."""


def check_resume_input(locked: LockedRun, transition: Transition, now: datetime) -> None:
    """Raises ``ResumeInputRefused`` when the proposal resumes a run paused for input without
    input that satisfies the pause's schema. A pause whose deadline has passed is left to the
    rules, which end the run whatever the input."""
    current = locked.state
    if current is None or current.type != StateType.PAUSED or not current.details:
        return
    schema_json = current.details.get(PAUSE_INPUT_SCHEMA)
    if not schema_json or transition.proposed.spec.type is not StateType.RUNNING:
        return
    deadline = spec_from_record(current).pause_deadline
    if deadline is not None and deadline <= now:
        return
    input_json = transition.proposed.extra_details.get(RESUME_INPUT)
    if input_json is None:
        raise ResumeInputRefused(
            (),
            f"flow run {locked.id} is paused waiting for input: resume it with input that "
            "matches the pause's schema (pause_input_schema_json of its state)",
        )
    problem = input_problem(schema_json, json.loads(input_json))
    if problem is not None:
        raise ResumeInputRefused(problem.path, problem.message)


def decide(
    locked: LockedRun, transition: Transition, now: datetime, gate: ConcurrencyGate | None
) -> Decided:
    """The answer to a proposal; raises ``ResumeInputRefused`` (see ``check_resume_input``)."""
    check_resume_input(locked, transition, now)
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
    return Decided(result, write, decision.release_concurrency_slots and _under_limits(locked))


def _under_limits(locked: LockedRun) -> bool:
    """Whether the run may count under a concurrency limit: its deployment's, its work pool's
    or its queue's. A run with neither (a plain ``@flow`` call) holds no slot anyone waits for,
    so leaving RUNNING wakes no one: no work delivery pass after every such run."""
    return locked.deployment_id is not None or bool(locked.work_pool_name)


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one proposal did."""

    result: Result
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
        raise RunMissing(transition.run_id)
    repeated = duplicate_result(locked, transition)
    if repeated is not None:
        return Applied(repeated)
    target = transition.proposed.spec.type
    deployment_id = locked.deployment_id if locked.deployment_gate is not None else None
    gate = await concurrency_gate(conn, deployment_id, locked.id, target, transition.force)
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
    """A new run's first state with its bookkeeping; InitialStateRefused if refused."""
    decision = initial_decision(proposed, gate, has_deployment, now)
    if decision.state is None:
        raise InitialStateRefused(decision.reason)
    result = outcome("", decision.status, decision.reason)
    return state_write(decision.state, proposed, (NO_TIMES, None), result, now)


def initial_decision(
    proposed: ProposedState, gate: ConcurrencyGate | None, has_deployment: bool, now: datetime
) -> Decision:
    """The decision on a new run's first state, as for any proposal on a run without one."""
    empty = RunSnapshot(has_deployment=has_deployment, deployment_concurrency=gate)
    return decide_flow_run(empty, Proposal(proposed.spec), now)
