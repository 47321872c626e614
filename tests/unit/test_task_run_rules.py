"""The task-run policy of SetTaskRunState: every (from, to) pair, then each rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runplane.server.orchestration import (
    AWAITING_RETRY,
    MAX_CACHE_KEY_LENGTH,
    RETRYING,
    Decision,
    OrchestrationStatus,
    Proposal,
    RunSnapshot,
    StateSpec,
    StateType,
    decide_task_run,
)

NOW = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
T = StateType
ACCEPT, REJECT, WAIT, ABORT = (
    OrchestrationStatus.ACCEPT,
    OrchestrationStatus.REJECT,
    OrchestrationStatus.WAIT,
    OrchestrationStatus.ABORT,
)
COLUMNS = (
    T.SCHEDULED, T.PENDING, T.RUNNING, T.COMPLETED, T.FAILED,
    T.CANCELLED, T.CRASHED, T.PAUSED, T.CANCELLING,
)  # fmt: skip

# "A": accepted; "R": rejected, the current state stands; "X": aborted. Rows are the current
# type (None: no state yet). No retries, no stored result, SCHEDULED already due.
TASK_MATRIX: dict[StateType | None, tuple[str, ...]] = {
    #            SCHED PEND  RUN   COMPL FAIL  CANCD CRASH PAUSE CANCELLING
    None:        ("A", "A",  "X",  "X",  "X",  "X",  "X",  "X",  "X"),
    T.SCHEDULED: ("A", "A",  "A",  "A",  "A",  "A",  "A",  "A",  "A"),
    T.PENDING:   ("A", "A",  "A",  "A",  "A",  "A",  "A",  "A",  "A"),
    T.RUNNING:   ("A", "X",  "A",  "A",  "A",  "A",  "A",  "A",  "A"),
    T.COMPLETED: ("R", "R",  "R",  "R",  "R",  "R",  "R",  "R",  "R"),
    T.FAILED:    ("R", "R",  "R",  "R",  "R",  "R",  "R",  "R",  "R"),
    T.CANCELLED: ("R", "R",  "R",  "R",  "R",  "R",  "R",  "R",  "R"),
    T.CRASHED:   ("R", "R",  "R",  "R",  "R",  "R",  "R",  "R",  "R"),
    T.PAUSED:    ("A", "A",  "A",  "A",  "A",  "A",  "A",  "A",  "A"),
    T.CANCELLING:("A", "A",  "A",  "A",  "A",  "A",  "A",  "A",  "A"),
}  # fmt: skip

# With force=True every move is accepted (no stored result is at stake here).
FORCED_TASK_MATRIX: dict[StateType | None, tuple[str, ...]] = {
    row: ("A",) * len(COLUMNS) for row in (None, *StateType)
}

_STATUS = {"A": ACCEPT, "R": REJECT, "X": ABORT}


def snapshot_of(state: StateSpec | None, **fields: Any) -> RunSnapshot:
    running = state is not None and state.type in (T.RUNNING, T.PAUSED, T.CANCELLING)
    defaults: dict[str, Any] = {"current_transition_id": "previous", "run_count": int(running)}
    defaults.update(fields)
    return RunSnapshot(state, **defaults)


def current_state(state_type: StateType | None) -> StateSpec | None:
    if state_type is None:
        return None
    due = NOW - timedelta(seconds=1) if state_type is T.SCHEDULED else None
    return StateSpec(state_type, scheduled_time=due)


def propose(
    snapshot: RunSnapshot, state: StateSpec, *, force: bool = False, transition_id: str = "next"
) -> Decision:
    return decide_task_run(snapshot, Proposal(state, force, transition_id), NOW)


def matrix_cases(
    matrix: dict[StateType | None, tuple[str, ...]],
) -> list[object]:
    return [
        pytest.param(origin, target, cell, id=f"{getattr(origin, 'name', 'NONE')}->{target.name}")
        for origin, row in matrix.items()
        for target, cell in zip(COLUMNS, row, strict=True)
    ]


def test_the_tables_cover_every_pair() -> None:
    assert set(TASK_MATRIX) == {None, *StateType}
    assert set(COLUMNS) == set(StateType)


@pytest.mark.parametrize("force", [False, True], ids=["proposed", "forced"])
@pytest.mark.parametrize(("origin", "target", "cell"), matrix_cases(TASK_MATRIX))
def test_every_transition(
    origin: StateType | None, target: StateType, cell: str, force: bool
) -> None:
    expected = FORCED_TASK_MATRIX[origin][COLUMNS.index(target)] if force else cell
    decision = propose(snapshot_of(current_state(origin)), StateSpec(target), force=force)
    assert decision.status is _STATUS[expected], decision.reason
    if expected == "A":
        assert decision.state is not None
        assert decision.state.type is target
    else:
        assert decision.state is None
    # Task runs hold no deployment slots and no work-stream lease.
    assert not decision.release_concurrency_slots
    assert not decision.take_concurrency_slot
    assert not decision.clear_lease


@pytest.mark.parametrize("force", [False, True])
def test_a_repeated_transition_id_changes_nothing(force: bool) -> None:
    snapshot = snapshot_of(StateSpec(T.RUNNING), current_transition_id="t-9")
    decision = propose(snapshot, StateSpec(T.COMPLETED), force=force, transition_id="t-9")
    assert (decision.status, decision.state, decision.duplicate) == (REJECT, None, True)


def test_a_stored_result_is_kept() -> None:
    snapshot = snapshot_of(StateSpec(T.COMPLETED, result_persisted=True))
    decision = propose(snapshot, StateSpec(T.RUNNING))
    assert (decision.status, decision.state) == (REJECT, None)
    assert "stored" in decision.reason
    lost = propose(snapshot, StateSpec(T.COMPLETED), force=True)
    assert (lost.status, lost.state) == (REJECT, None)
    replaced = propose(snapshot, StateSpec(T.COMPLETED, result_persisted=True), force=True)
    assert replaced.status is ACCEPT


@pytest.mark.parametrize("origin", [T.COMPLETED, T.FAILED, T.CANCELLED, T.CRASHED])
def test_a_forced_move_out_of_a_terminal_state_is_a_rerun(origin: StateType) -> None:
    decision = propose(snapshot_of(StateSpec(origin)), StateSpec(T.PENDING), force=True)
    assert (decision.status, decision.rerun) == (ACCEPT, True)


def test_a_failure_with_retries_left_awaits_a_retry() -> None:
    snapshot = snapshot_of(StateSpec(T.RUNNING), run_count=2, retries=3, retry_delays=(1.0, 2.5))
    decision = propose(snapshot, StateSpec(T.FAILED, message="KeyError: 'x'"))
    assert decision.status is REJECT
    assert decision.state is not None
    assert (decision.state.type, decision.state.name) == (T.SCHEDULED, AWAITING_RETRY)
    assert decision.state.scheduled_time == NOW + timedelta(seconds=2.5)
    assert decision.state.message == "KeyError: 'x'"


def test_retries_respect_the_retriable_flag_and_the_count() -> None:
    snapshot = snapshot_of(StateSpec(T.RUNNING), run_count=1, retries=1)
    assert propose(snapshot, StateSpec(T.FAILED, retriable=False)).status is ACCEPT
    spent = snapshot_of(StateSpec(T.RUNNING), run_count=2, retries=1)
    assert propose(spent, StateSpec(T.FAILED)).status is ACCEPT


def test_the_retry_runs_as_retrying() -> None:
    awaiting = StateSpec(T.SCHEDULED, AWAITING_RETRY, scheduled_time=NOW)
    decision = propose(snapshot_of(awaiting), StateSpec(T.RUNNING))
    assert decision.state is not None
    assert decision.state.name == RETRYING


def test_running_early_waits_for_the_remaining_time() -> None:
    due = NOW + timedelta(seconds=7, microseconds=250_000)
    decision = propose(
        snapshot_of(StateSpec(T.SCHEDULED, scheduled_time=due)), StateSpec(T.RUNNING)
    )
    assert (decision.status, decision.wait_seconds) == (WAIT, 7.25)


def test_a_running_task_cannot_go_pending_again() -> None:
    decision = propose(snapshot_of(StateSpec(T.RUNNING)), StateSpec(T.PENDING))
    assert (decision.status, decision.state) == (ABORT, None)


@pytest.mark.parametrize("force", [False, True])
def test_an_overlong_cache_key_is_rejected(force: bool) -> None:
    snapshot = snapshot_of(StateSpec(T.RUNNING))
    too_long = StateSpec(T.COMPLETED, cache_key="k" * (MAX_CACHE_KEY_LENGTH + 1))
    decision = propose(snapshot, too_long, force=force)
    assert (decision.status, decision.state) == (REJECT, None)
    longest = StateSpec(T.COMPLETED, cache_key="k" * MAX_CACHE_KEY_LENGTH)
    assert propose(snapshot, longest, force=force).status is ACCEPT
