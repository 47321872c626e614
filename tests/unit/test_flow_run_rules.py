"""The flow-run policy: every (from, to) pair, then each rule on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runplane.server.orchestration import (
    AWAITING_CONCURRENCY_SLOT,
    AWAITING_RETRY,
    LATE,
    RETRYING,
    SUSPENDED,
    CollisionStrategy,
    ConcurrencyGate,
    Decision,
    OrchestrationStatus,
    Proposal,
    RunSnapshot,
    StateSpec,
    StateType,
    decide_flow_run,
)

NOW = datetime(2030, 5, 17, 12, 0, tzinfo=UTC)
T = StateType
ACCEPT, REJECT, WAIT, ABORT = (
    OrchestrationStatus.ACCEPT,
    OrchestrationStatus.REJECT,
    OrchestrationStatus.WAIT,
    OrchestrationStatus.ABORT,
)

# The proposed type of each column in the tables below.
COLUMNS = (
    T.SCHEDULED, T.PENDING, T.RUNNING, T.COMPLETED, T.FAILED,
    T.CANCELLED, T.CRASHED, T.PAUSED, T.CANCELLING,
)  # fmt: skip

# "A": accepted as proposed; "A:TYPE": accepted, but a state of TYPE is written;
# "R": rejected, the current state stands; "X": aborted. Rows are the current type (None: the
# run has no state yet). The run has no retries, no lease, no concurrency limit, no stored
# result, and a SCHEDULED state that is already due. A finished run is left only by a retry
# (SCHEDULED named AwaitingRetry, see the rule 2 tests), never by a state with a default name.
FLOW_MATRIX: dict[StateType | None, tuple[str, ...]] = {
    #            SCHED PEND  RUN   COMPL FAIL  CANCD CRASH PAUSE CANCELLING
    None:        ("A", "A",  "A",  "X",  "X",  "X",  "X",  "X",  "X"),
    T.SCHEDULED: ("A", "A",  "A",  "A",  "A",  "A",  "A",  "X",  "A:CANCELLED"),
    T.PENDING:   ("A", "X",  "A",  "A",  "A",  "A",  "A",  "X",  "A"),
    T.RUNNING:   ("A", "X",  "A",  "A",  "A",  "A",  "A",  "A",  "A"),
    T.COMPLETED: ("X", "X",  "X",  "X",  "X",  "X",  "X",  "X",  "X"),
    T.FAILED:    ("X", "X",  "X",  "X",  "X",  "X",  "X",  "X",  "X"),
    T.CANCELLED: ("X", "X",  "X",  "X",  "X",  "X",  "X",  "X",  "X"),
    T.CRASHED:   ("X", "X",  "X",  "X",  "X",  "X",  "X",  "X",  "X"),
    T.PAUSED:    ("A", "R",  "A",  "A",  "A",  "A",  "A",  "X",  "A"),
    T.CANCELLING:("R", "R",  "R",  "R",  "R",  "A",  "R",  "R",  "R"),
}  # fmt: skip

# The same with force=True.
FORCED_FLOW_MATRIX: dict[StateType | None, tuple[str, ...]] = {
    #            SCHED PEND  RUN   COMPL FAIL  CANCD CRASH PAUSE CANCELLING
    None:        ("A", "A",  "A",  "A",  "A",  "A",  "A",  "A",  "A"),
    T.SCHEDULED: ("A", "A",  "A",  "A",  "A",  "A",  "A",  "A",  "A:CANCELLED"),
    T.PENDING:   ("A", "A",  "A",  "A",  "A",  "A",  "A",  "A",  "A"),
    T.RUNNING:   ("A", "A",  "A",  "A",  "A",  "A",  "A",  "A",  "A"),
    T.COMPLETED: ("X", "X",  "X",  "X",  "X",  "X",  "X",  "X",  "X"),
    T.FAILED:    ("X", "X",  "X",  "X",  "X",  "X",  "X",  "X",  "X"),
    T.CANCELLED: ("X", "X",  "X",  "X",  "X",  "X",  "X",  "X",  "X"),
    T.CRASHED:   ("X", "X",  "X",  "X",  "X",  "X",  "X",  "X",  "X"),
    T.PAUSED:    ("A", "A",  "A",  "A",  "A",  "A",  "A",  "A",  "A"),
    T.CANCELLING:("R", "R",  "R",  "A",  "A",  "A",  "A",  "R",  "R"),
}  # fmt: skip

_STATUS = {"A": ACCEPT, "R": REJECT, "X": ABORT}


def current_state(state_type: StateType | None) -> StateSpec | None:
    if state_type is None:
        return None
    due = NOW - timedelta(minutes=1) if state_type is T.SCHEDULED else None
    return StateSpec(state_type, scheduled_time=due, transition_id="previous")


def snapshot_of(state: StateSpec | None, **fields: Any) -> RunSnapshot:
    running = state is not None and state.type in (T.RUNNING, T.PAUSED, T.CANCELLING)
    defaults: dict[str, Any] = {"current_transition_id": "previous", "run_count": int(running)}
    defaults.update(fields)
    return RunSnapshot(state, **defaults)


def propose(
    snapshot: RunSnapshot,
    state: StateSpec,
    *,
    force: bool = False,
    transition_id: str = "next",
    lease_id: str = "",
) -> Decision:
    return decide_flow_run(snapshot, Proposal(state, force, transition_id, lease_id), NOW)


def matrix_cases(
    matrix: dict[StateType | None, tuple[str, ...]],
) -> list[object]:
    return [
        pytest.param(origin, target, cell, id=f"{getattr(origin, 'name', 'NONE')}->{target.name}")
        for origin, row in matrix.items()
        for target, cell in zip(COLUMNS, row, strict=True)
    ]


def check_cell(decision: Decision, target: StateType, cell: str) -> None:
    code, _, written = cell.partition(":")
    assert decision.status is _STATUS[code], decision.reason
    if code == "A":
        assert decision.state is not None
        assert decision.state.type is (StateType[written] if written else target)
        assert decision.state.transition_id == "next"
    else:
        assert decision.state is None
        assert decision.reason


def test_the_tables_cover_every_pair() -> None:
    expected_rows = {None, *StateType}
    assert set(FLOW_MATRIX) == expected_rows
    assert set(FORCED_FLOW_MATRIX) == expected_rows
    assert set(COLUMNS) == set(StateType)


@pytest.mark.parametrize(("origin", "target", "cell"), matrix_cases(FLOW_MATRIX))
def test_every_transition(origin: StateType | None, target: StateType, cell: str) -> None:
    decision = propose(snapshot_of(current_state(origin)), StateSpec(target))
    check_cell(decision, target, cell)


@pytest.mark.parametrize(("origin", "target", "cell"), matrix_cases(FORCED_FLOW_MATRIX))
def test_every_forced_transition(origin: StateType | None, target: StateType, cell: str) -> None:
    decision = propose(snapshot_of(current_state(origin)), StateSpec(target), force=True)
    check_cell(decision, target, cell)


# Rule 1: duplicate transitions.


@pytest.mark.parametrize("force", [False, True])
def test_a_repeated_transition_id_changes_nothing(force: bool) -> None:
    snapshot = snapshot_of(StateSpec(T.RUNNING), current_transition_id="t-1")
    decision = propose(snapshot, StateSpec(T.COMPLETED), force=force, transition_id="t-1")
    assert decision.status is REJECT
    assert decision.duplicate
    assert decision.state is None
    assert decision.reason == "duplicate transition"
    assert not decision.release_concurrency_slots


def test_an_empty_transition_id_is_never_a_duplicate() -> None:
    snapshot = snapshot_of(StateSpec(T.RUNNING), current_transition_id="")
    decision = propose(snapshot, StateSpec(T.COMPLETED), transition_id="")
    assert decision.status is ACCEPT
    assert not decision.duplicate


def test_a_duplicate_wins_over_every_other_rule() -> None:
    snapshot = snapshot_of(StateSpec(T.RUNNING), current_transition_id="t-1", retries=3)
    decision = propose(snapshot, StateSpec(T.PENDING), transition_id="t-1")
    assert (decision.status, decision.duplicate) == (REJECT, True)


# Rule 2: terminal states.


@pytest.mark.parametrize("origin", [T.COMPLETED, T.FAILED, T.CANCELLED, T.CRASHED])
@pytest.mark.parametrize("target", [T.CANCELLING, T.PAUSED, T.CRASHED])
def test_a_finished_run_cannot_be_cancelled_paused_or_crashed(
    origin: StateType, target: StateType
) -> None:
    assert propose(snapshot_of(StateSpec(origin)), StateSpec(target)).status is ABORT


@pytest.mark.parametrize("target", list(StateType))
def test_a_stored_result_keeps_the_run_completed(target: StateType) -> None:
    snapshot = snapshot_of(StateSpec(T.COMPLETED, result_persisted=True))
    decision = propose(snapshot, StateSpec(target, result_persisted=True))
    assert decision.status in (REJECT, ABORT)
    assert decision.state is None


def test_force_cannot_replace_a_stored_result() -> None:
    snapshot = snapshot_of(StateSpec(T.COMPLETED, result_persisted=True))
    lost = propose(snapshot, StateSpec(T.COMPLETED), force=True)
    assert (lost.status, lost.state) == (ABORT, None)
    replaced = propose(snapshot, StateSpec(T.COMPLETED, result_persisted=True), force=True)
    assert (replaced.status, replaced.state) == (ABORT, None)
    retried = propose(snapshot, StateSpec(T.SCHEDULED, AWAITING_RETRY), force=True)
    assert retried.status is ACCEPT
    assert retried.rerun


@pytest.mark.parametrize("origin", [T.COMPLETED, T.FAILED, T.CANCELLED, T.CRASHED])
def test_a_retry_leaves_a_terminal_state_as_a_rerun(origin: StateType) -> None:
    decision = propose(snapshot_of(StateSpec(origin)), StateSpec(T.SCHEDULED, AWAITING_RETRY))
    assert decision.status is ACCEPT
    assert decision.rerun
    assert decision.state is not None
    assert decision.state.name == AWAITING_RETRY


@pytest.mark.parametrize("force", [False, True], ids=["proposed", "forced"])
@pytest.mark.parametrize("origin", [T.COMPLETED, T.FAILED, T.CANCELLED, T.CRASHED])
@pytest.mark.parametrize(
    "target",
    [
        StateSpec(T.SCHEDULED),
        StateSpec(T.SCHEDULED, LATE),
        StateSpec(T.PENDING),
        StateSpec(T.RUNNING),
        StateSpec(T.COMPLETED),
        StateSpec(T.FAILED),
        StateSpec(T.CRASHED),
    ],
    ids=lambda spec: spec.name,
)
def test_a_finished_run_moves_only_by_a_retry(
    origin: StateType, target: StateSpec, force: bool
) -> None:
    decision = propose(snapshot_of(StateSpec(origin)), target, force=force)
    assert (decision.status, decision.state) == (ABORT, None)
    assert "only moves by a retry" in decision.reason


def test_a_repeat_of_the_last_transition_of_a_finished_run_is_answered_again() -> None:
    snapshot = snapshot_of(StateSpec(T.COMPLETED, transition_id="t-1"), current_transition_id="t-1")
    decision = propose(snapshot, StateSpec(T.COMPLETED), transition_id="t-1")
    assert (decision.status, decision.duplicate, decision.state) == (REJECT, True, None)


# Rules 3 and 4: cancellation.


@pytest.mark.parametrize("target", [t for t in StateType if t is not T.CANCELLED])
def test_a_cancelling_run_only_becomes_cancelled(target: StateType) -> None:
    decision = propose(snapshot_of(StateSpec(T.CANCELLING)), StateSpec(target))
    assert (decision.status, decision.state) == (REJECT, None)
    done = propose(snapshot_of(StateSpec(T.CANCELLING)), StateSpec(T.CANCELLED))
    assert done.status is ACCEPT


@pytest.mark.parametrize("force", [False, True])
def test_cancelling_a_scheduled_run_cancels_it_at_once(force: bool) -> None:
    snapshot = snapshot_of(StateSpec(T.SCHEDULED, scheduled_time=NOW))
    decision = propose(snapshot, StateSpec(T.CANCELLING, message="by alice"), force=force)
    assert decision.status is ACCEPT
    assert decision.state is not None
    assert (decision.state.type, decision.state.name) == (T.CANCELLED, "Cancelled")
    assert decision.state.message == "by alice"
    assert decision.reason


def test_cancelling_a_suspended_run_cancels_it_at_once() -> None:
    decision = propose(snapshot_of(StateSpec(T.PAUSED, SUSPENDED)), StateSpec(T.CANCELLING))
    assert decision.state is not None
    assert decision.state.type is T.CANCELLED


def test_cancelling_a_paused_process_asks_its_runner() -> None:
    decision = propose(snapshot_of(StateSpec(T.PAUSED)), StateSpec(T.CANCELLING))
    assert decision.status is ACCEPT
    assert decision.state is not None
    assert decision.state.type is T.CANCELLING


# Rule 5: no double start.


@pytest.mark.parametrize("origin", [T.PENDING, T.RUNNING, T.CANCELLING, T.CANCELLED])
def test_a_started_run_cannot_go_pending_again(origin: StateType) -> None:
    expected = REJECT if origin is T.CANCELLING else ABORT  # rule 3 speaks first
    assert propose(snapshot_of(StateSpec(origin)), StateSpec(T.PENDING)).status is expected


def test_a_pending_run_may_be_renamed() -> None:
    decision = propose(snapshot_of(StateSpec(T.PENDING)), StateSpec(T.PENDING, "NotReady"))
    assert decision.status is ACCEPT


# Rule 6: deployment concurrency.


def gate(limit: int, active: int, strategy: CollisionStrategy = "ENQUEUE") -> ConcurrencyGate:
    return ConcurrencyGate(limit, active, strategy, enqueue_delay_seconds=15.0)


def test_a_free_slot_is_taken_on_pending() -> None:
    due = NOW - timedelta(seconds=5)
    snapshot = snapshot_of(
        StateSpec(T.SCHEDULED, scheduled_time=due), deployment_concurrency=gate(2, 1)
    )
    decision = propose(snapshot, StateSpec(T.PENDING))
    assert decision.status is ACCEPT
    assert decision.take_concurrency_slot
    assert decision.state is not None
    assert decision.state.scheduled_time == due  # rule 9 still applies after rule 6


def test_a_full_limit_enqueues_the_run() -> None:
    snapshot = snapshot_of(
        StateSpec(T.SCHEDULED, scheduled_time=NOW), deployment_concurrency=gate(2, 2)
    )
    decision = propose(snapshot, StateSpec(T.PENDING))
    assert decision.status is REJECT
    assert not decision.take_concurrency_slot
    assert decision.state is not None
    assert (decision.state.type, decision.state.name) == (T.SCHEDULED, AWAITING_CONCURRENCY_SLOT)
    assert decision.state.scheduled_time == NOW + timedelta(seconds=15)
    assert decision.state.transition_id == "next"


def test_a_full_limit_cancels_the_new_run() -> None:
    snapshot = snapshot_of(
        StateSpec(T.SCHEDULED, scheduled_time=NOW), deployment_concurrency=gate(1, 3, "CANCEL_NEW")
    )
    decision = propose(snapshot, StateSpec(T.PENDING))
    assert decision.status is REJECT
    assert decision.state is not None
    assert decision.state.type is T.CANCELLED
    assert not decision.take_concurrency_slot


def test_a_limit_of_zero_aborts() -> None:
    snapshot = snapshot_of(
        StateSpec(T.SCHEDULED, scheduled_time=NOW), deployment_concurrency=gate(0, 0)
    )
    decision = propose(snapshot, StateSpec(T.PENDING))
    assert (decision.status, decision.take_concurrency_slot) == (ABORT, False)


def test_a_forced_pending_takes_no_slot() -> None:
    snapshot = snapshot_of(
        StateSpec(T.SCHEDULED, scheduled_time=NOW), deployment_concurrency=gate(1, 1)
    )
    decision = propose(snapshot, StateSpec(T.PENDING), force=True)
    assert (decision.status, decision.take_concurrency_slot) == (ACCEPT, False)


def test_a_slot_is_not_taken_when_a_later_rule_refuses() -> None:
    snapshot = snapshot_of(StateSpec(T.PAUSED), deployment_concurrency=gate(2, 0))
    decision = propose(snapshot, StateSpec(T.PENDING))
    assert (decision.status, decision.take_concurrency_slot) == (REJECT, False)


# Rule 7: Late.


def test_a_scheduled_run_may_become_late_once() -> None:
    scheduled = StateSpec(T.SCHEDULED, scheduled_time=NOW)
    late = StateSpec(T.SCHEDULED, LATE, scheduled_time=NOW)
    assert propose(snapshot_of(scheduled), late).status is ACCEPT
    assert propose(snapshot_of(late), late).status is REJECT
    retry = StateSpec(T.SCHEDULED, AWAITING_RETRY, scheduled_time=NOW)
    assert propose(snapshot_of(retry), late).status is ACCEPT


@pytest.mark.parametrize("origin", [T.PENDING, T.RUNNING, T.PAUSED])
def test_only_a_scheduled_run_becomes_late(origin: StateType) -> None:
    decision = propose(snapshot_of(StateSpec(origin)), StateSpec(T.SCHEDULED, LATE))
    assert (decision.status, decision.state) == (REJECT, None)


def test_a_new_run_cannot_start_late() -> None:
    assert propose(snapshot_of(None), StateSpec(T.SCHEDULED, LATE)).status is ABORT


# Rule 8: pausing and resuming.


def test_a_running_run_may_pause_or_suspend() -> None:
    snapshot = snapshot_of(StateSpec(T.RUNNING), has_deployment=True)
    assert propose(snapshot, StateSpec(T.PAUSED)).status is ACCEPT
    assert propose(snapshot, StateSpec(T.PAUSED, SUSPENDED)).status is ACCEPT


def test_suspending_needs_a_deployment_and_a_top_level_run() -> None:
    suspended = StateSpec(T.PAUSED, SUSPENDED)
    no_deployment = snapshot_of(StateSpec(T.RUNNING), has_deployment=False)
    assert propose(no_deployment, suspended).status is ABORT
    subflow = snapshot_of(StateSpec(T.RUNNING), has_deployment=True, is_subflow=True)
    assert propose(subflow, suspended).status is ABORT


@pytest.mark.parametrize("target", [T.RUNNING, T.SCHEDULED])
def test_resuming_after_the_pause_deadline_fails_the_run(target: StateType) -> None:
    paused = StateSpec(T.PAUSED, pause_deadline=NOW - timedelta(seconds=1))
    decision = propose(snapshot_of(paused), StateSpec(target))
    assert decision.status is REJECT
    assert decision.state is not None
    assert decision.state.type is T.FAILED
    assert decision.state.message


def test_resuming_a_suspension_schedules_the_run_again() -> None:
    suspended = StateSpec(T.PAUSED, SUSPENDED, pause_deadline=NOW + timedelta(seconds=1))
    decision = propose(snapshot_of(suspended), StateSpec(T.RUNNING))
    assert decision.status is REJECT
    assert decision.state is not None
    assert (decision.state.type, decision.state.name) == (T.SCHEDULED, "Resuming")
    assert decision.state.scheduled_time == NOW
    rescheduled = propose(snapshot_of(suspended), StateSpec(T.SCHEDULED))
    assert rescheduled.status is ACCEPT


def test_resuming_before_the_pause_deadline_is_accepted() -> None:
    paused = StateSpec(T.PAUSED, pause_deadline=NOW + timedelta(seconds=1))
    assert propose(snapshot_of(paused), StateSpec(T.RUNNING)).status is ACCEPT


def test_an_expired_pause_may_still_end() -> None:
    paused = StateSpec(T.PAUSED, pause_deadline=NOW - timedelta(hours=1))
    decision = propose(snapshot_of(paused), StateSpec(T.CANCELLED))
    assert decision.status is ACCEPT


# Rules 9 and 10: scheduled time.


def test_pending_carries_the_scheduled_time() -> None:
    due = NOW - timedelta(minutes=3)
    decision = propose(
        snapshot_of(StateSpec(T.SCHEDULED, scheduled_time=due)), StateSpec(T.PENDING)
    )
    assert decision.state is not None
    assert decision.state.scheduled_time == due


@pytest.mark.parametrize("origin", [T.SCHEDULED, T.PENDING])
def test_running_early_waits_for_the_remaining_time(origin: StateType) -> None:
    due = NOW + timedelta(seconds=90, milliseconds=500)
    decision = propose(snapshot_of(StateSpec(origin, scheduled_time=due)), StateSpec(T.RUNNING))
    assert decision.status is WAIT
    assert decision.wait_seconds == 90.5
    assert decision.state is None


def test_running_on_time_is_accepted() -> None:
    decision = propose(snapshot_of(StateSpec(T.PENDING, scheduled_time=NOW)), StateSpec(T.RUNNING))
    assert decision.status is ACCEPT


def test_a_forced_start_does_not_wait() -> None:
    due = NOW + timedelta(hours=1)
    snapshot = snapshot_of(StateSpec(T.SCHEDULED, scheduled_time=due))
    assert propose(snapshot, StateSpec(T.RUNNING), force=True).status is ACCEPT


# Rule 11: the work-stream lease.


def leased(**fields: Any) -> RunSnapshot:
    return snapshot_of(StateSpec(T.PENDING, scheduled_time=NOW), assigned_lease_id="L1", **fields)


def running_leased() -> RunSnapshot:
    return snapshot_of(StateSpec(T.RUNNING), assigned_lease_id="L1")


def test_starting_under_the_current_lease_keeps_the_lease() -> None:
    decision = propose(leased(), StateSpec(T.RUNNING), lease_id="L1")
    assert decision.status is ACCEPT
    assert not decision.clear_lease
    assert decision.state is not None
    assert decision.state.lease_id == "L1"


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize(
    ("lease_id", "expired"),
    [("L0", False), ("", False), ("L1", True)],
    ids=["foreign", "none", "expired"],
)
def test_a_start_without_the_live_lease_aborts(lease_id: str, expired: bool, force: bool) -> None:
    decision = propose(
        leased(lease_expired=expired), StateSpec(T.RUNNING), lease_id=lease_id, force=force
    )
    assert decision.status is ABORT
    assert not decision.clear_lease


def test_a_foreign_lease_cannot_end_the_run() -> None:
    decision = propose(leased(), StateSpec(T.CRASHED), lease_id="L0", force=True)
    assert decision.status is ABORT


@pytest.mark.parametrize("force", [False, True], ids=["proposed", "forced"])
@pytest.mark.parametrize(
    "target", [T.RUNNING, T.COMPLETED, T.FAILED, T.CRASHED, T.CANCELLED, T.SCHEDULED, T.PAUSED]
)
def test_a_running_leased_run_refuses_a_stale_or_missing_lease(
    target: StateType, force: bool
) -> None:
    stale = propose(running_leased(), StateSpec(target), lease_id="L0", force=force)
    missing = propose(running_leased(), StateSpec(target), force=force)
    assert (stale.status, stale.state) == (ABORT, None)
    assert (missing.status, missing.state) == (ABORT, None)
    assert "stale or foreign" in stale.reason
    assert "present its lease" in missing.reason


@pytest.mark.parametrize(
    ("target", "clears"),
    [(T.COMPLETED, True), (T.CRASHED, True), (T.SCHEDULED, True), (T.PAUSED, False)],
)
def test_the_lease_is_kept_until_the_attempt_ends(target: StateType, clears: bool) -> None:
    decision = propose(running_leased(), StateSpec(target), lease_id="L1", force=True)
    assert decision.status is ACCEPT
    assert decision.clear_lease is clears


def test_anyone_may_cancel_a_leased_run_or_resume_its_pause() -> None:
    cancel = propose(running_leased(), StateSpec(T.CANCELLING))
    paused = snapshot_of(StateSpec(T.PAUSED), assigned_lease_id="L1")
    resume = propose(paused, StateSpec(T.RUNNING))
    assert (cancel.status, cancel.clear_lease) == (ACCEPT, False)
    assert (resume.status, resume.clear_lease) == (ACCEPT, False)


def test_only_the_lease_holder_ends_a_cancelling_run() -> None:
    cancelling = snapshot_of(StateSpec(T.CANCELLING), assigned_lease_id="L1")
    without = propose(cancelling, StateSpec(T.CANCELLED), force=True)
    holder = propose(cancelling, StateSpec(T.CANCELLED), lease_id="L1", force=True)
    assert without.status is ABORT
    assert (holder.status, holder.clear_lease) == (ACCEPT, True)


def test_an_expired_lease_only_matters_for_the_start() -> None:
    expired = snapshot_of(StateSpec(T.RUNNING), assigned_lease_id="L1", lease_expired=True)
    assert propose(expired, StateSpec(T.COMPLETED), lease_id="L1").status is ACCEPT


def test_the_lease_check_comes_before_waiting() -> None:
    snapshot = snapshot_of(
        StateSpec(T.PENDING, scheduled_time=NOW + timedelta(minutes=1)), assigned_lease_id="L1"
    )
    assert propose(snapshot, StateSpec(T.RUNNING), lease_id="L2").status is ABORT


def test_a_lease_on_a_run_without_one_is_stale() -> None:
    """The run was rescheduled (its lease cleared) or never handed out under that lease."""
    snapshot = snapshot_of(StateSpec(T.PENDING))
    decision = propose(snapshot, StateSpec(T.RUNNING), lease_id="L9")
    assert (decision.status, decision.clear_lease) == (ABORT, False)
    assert "stale or foreign" in decision.reason


# Rule 12: retries.


def running(run_count: int, retries: int, delays: tuple[float, ...] = ()) -> RunSnapshot:
    return snapshot_of(
        StateSpec(T.RUNNING), run_count=run_count, retries=retries, retry_delays=delays
    )


def test_a_failure_with_retries_left_awaits_a_retry() -> None:
    failure = StateSpec(T.FAILED, message="ValueError: boom")
    decision = propose(running(1, 2, (30.0,)), failure)
    assert decision.status is REJECT
    assert decision.state is not None
    assert (decision.state.type, decision.state.name) == (T.SCHEDULED, AWAITING_RETRY)
    assert decision.state.scheduled_time == NOW + timedelta(seconds=30)
    assert decision.state.message == "ValueError: boom"
    assert decision.state.transition_id == "next"


@pytest.mark.parametrize(("run_count", "delay"), [(1, 10.0), (2, 20.0), (3, 40.0), (4, 40.0)])
def test_retry_delays_follow_the_attempt_and_the_last_repeats(run_count: int, delay: float) -> None:
    decision = propose(running(run_count, 5, (10.0, 20.0, 40.0)), StateSpec(T.FAILED))
    assert decision.state is not None
    assert decision.state.scheduled_time == NOW + timedelta(seconds=delay)


def test_no_delays_retry_at_once() -> None:
    decision = propose(running(1, 1), StateSpec(T.FAILED))
    assert decision.state is not None
    assert decision.state.scheduled_time == NOW


def test_the_last_attempt_fails() -> None:
    decision = propose(running(3, 2, (1.0,)), StateSpec(T.FAILED))
    assert decision.status is ACCEPT
    assert decision.state is not None
    assert decision.state.type is T.FAILED


def test_a_failure_that_is_not_retriable_fails() -> None:
    decision = propose(running(1, 3), StateSpec(T.FAILED, retriable=False))
    assert decision.status is ACCEPT


def test_a_forced_failure_is_not_retried() -> None:
    assert propose(running(1, 3), StateSpec(T.FAILED), force=True).status is ACCEPT


def test_the_retry_runs_as_retrying() -> None:
    awaiting = StateSpec(T.SCHEDULED, AWAITING_RETRY, scheduled_time=NOW)
    decision = propose(snapshot_of(awaiting, run_count=1, retries=1), StateSpec(T.RUNNING))
    assert decision.state is not None
    assert (decision.state.type, decision.state.name) == (T.RUNNING, RETRYING)


# Rule 13: concurrency slot release.

SLOT_HOLDING = (T.PENDING, T.RUNNING, T.CANCELLING)


@pytest.mark.parametrize("origin", SLOT_HOLDING)
@pytest.mark.parametrize("target", list(StateType))
def test_leaving_a_slot_holding_state_releases_slots(origin: StateType, target: StateType) -> None:
    decision = propose(snapshot_of(StateSpec(origin)), StateSpec(target), force=True)
    if decision.state is None:
        assert not decision.release_concurrency_slots
    else:
        assert decision.release_concurrency_slots is (decision.state.type not in SLOT_HOLDING)


def test_a_retry_releases_the_slot() -> None:
    decision = propose(running(1, 1), StateSpec(T.FAILED))
    assert (decision.status, decision.release_concurrency_slots) == (REJECT, True)


@pytest.mark.parametrize("origin", [T.SCHEDULED, T.PAUSED])
def test_other_states_release_nothing(origin: StateType) -> None:
    decision = propose(snapshot_of(StateSpec(origin)), StateSpec(T.CANCELLED))
    assert (decision.status, decision.release_concurrency_slots) == (ACCEPT, False)


def test_a_retry_of_a_finished_run_releases_nothing() -> None:
    decision = propose(snapshot_of(StateSpec(T.FAILED)), StateSpec(T.SCHEDULED, AWAITING_RETRY))
    assert (decision.status, decision.release_concurrency_slots) == (ACCEPT, False)


# The first state, and what every written state carries.


def test_a_new_scheduled_run_is_due_now_unless_told() -> None:
    decision = propose(snapshot_of(None), StateSpec(T.SCHEDULED))
    assert decision.state is not None
    assert decision.state.scheduled_time == NOW
    later = NOW + timedelta(days=1)
    decision = propose(snapshot_of(None), StateSpec(T.SCHEDULED, scheduled_time=later))
    assert decision.state is not None
    assert decision.state.scheduled_time == later


def test_a_written_state_carries_the_request_ids() -> None:
    snapshot = snapshot_of(StateSpec(T.PENDING), assigned_lease_id="L5")
    decision = propose(snapshot, StateSpec(T.RUNNING), lease_id="L5")
    assert decision.state is not None
    assert (decision.state.transition_id, decision.state.lease_id) == ("next", "L5")
    assert (decision.state.name, decision.reason) == ("Running", "")


def test_a_deployment_run_cannot_be_created_running() -> None:
    ad_hoc = propose(snapshot_of(None), StateSpec(T.RUNNING))
    deployed = propose(snapshot_of(None, has_deployment=True), StateSpec(T.RUNNING))
    assert ad_hoc.status is OrchestrationStatus.ACCEPT
    assert deployed.status is OrchestrationStatus.ABORT
