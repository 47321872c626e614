"""The run-row columns that follow a written state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runplane.server.orchestration import (
    AWAITING_RETRY,
    Proposal,
    RunSnapshot,
    RunTimes,
    RunUpdate,
    StateSpec,
    StateType,
    bookkeeping,
    decide_flow_run,
)

T0 = datetime(2032, 3, 4, 8, 0, tzinfo=UTC)
T = StateType


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def times_after(update: RunUpdate) -> RunTimes:
    return RunTimes(
        state_type=update.state_type,
        state_timestamp=update.state_timestamp,
        start_time=update.start_time,
        end_time=update.end_time,
        total_run_time=update.total_run_time,
        run_count=update.run_count,
        expected_start_time=update.expected_start_time,
        next_scheduled_start_time=update.next_scheduled_start_time,
    )


def write_all(*steps: tuple[float, StateSpec]) -> list[RunUpdate]:
    """Writes the states in order onto a new run and returns the row after each write."""
    times = RunTimes()
    updates = []
    for at, state in steps:
        update = bookkeeping(times, state, seconds(at))
        updates.append(update)
        times = times_after(update)
    return updates


def test_the_state_columns_follow_the_written_state() -> None:
    (update,) = write_all((0, StateSpec(T.PENDING, "NotReady")))
    assert (update.state_type, update.state_name, update.state_timestamp) == (
        T.PENDING,
        "NotReady",
        T0,
    )


def test_start_time_is_set_by_the_first_running_only() -> None:
    updates = write_all(
        (0, StateSpec(T.PENDING)),
        (1, StateSpec(T.RUNNING)),
        (2, StateSpec(T.SCHEDULED, AWAITING_RETRY, scheduled_time=seconds(5))),
        (5, StateSpec(T.RUNNING)),
    )
    assert [u.start_time for u in updates] == [None, seconds(1), seconds(1), seconds(1)]


def test_run_count_grows_with_each_attempt_but_not_on_resume() -> None:
    updates = write_all(
        (0, StateSpec(T.PENDING)),
        (1, StateSpec(T.RUNNING)),
        (2, StateSpec(T.RUNNING, "Running again")),
        (3, StateSpec(T.PAUSED)),
        (4, StateSpec(T.RUNNING)),
        (5, StateSpec(T.SCHEDULED, AWAITING_RETRY, scheduled_time=seconds(6))),
        (6, StateSpec(T.RUNNING)),
    )
    assert [u.run_count for u in updates] == [0, 1, 1, 1, 1, 1, 2]


def test_a_resumed_suspension_continues_its_attempt() -> None:
    updates = write_all(
        (0, StateSpec(T.PENDING)),
        (1, StateSpec(T.RUNNING)),
        (2, StateSpec(T.PAUSED, "Suspended")),
        (3, StateSpec(T.SCHEDULED, "Resuming", scheduled_time=seconds(3))),
        (4, StateSpec(T.PENDING)),
        (5, StateSpec(T.RUNNING)),
    )
    assert [u.run_count for u in updates] == [0, 1, 1, 0, 0, 1]


def test_end_time_is_set_on_terminal_states_and_cleared_on_leaving() -> None:
    updates = write_all(
        (0, StateSpec(T.RUNNING)),
        (10, StateSpec(T.FAILED)),
        (20, StateSpec(T.SCHEDULED, scheduled_time=seconds(30))),
        (30, StateSpec(T.RUNNING)),
        (40, StateSpec(T.COMPLETED)),
    )
    assert [u.end_time for u in updates] == [None, seconds(10), None, None, seconds(40)]


def test_a_rerun_starts_the_run_count_over() -> None:
    updates = write_all(
        (0, StateSpec(T.RUNNING)),
        (1, StateSpec(T.FAILED)),
        (2, StateSpec(T.RUNNING)),
    )
    assert [u.run_count for u in updates] == [1, 1, 1]


def test_total_run_time_accumulates_across_attempts() -> None:
    updates = write_all(
        (0, StateSpec(T.PENDING)),
        (1, StateSpec(T.RUNNING)),
        (4, StateSpec(T.SCHEDULED, AWAITING_RETRY, scheduled_time=seconds(10))),
        (10, StateSpec(T.RUNNING)),
        (12.5, StateSpec(T.RUNNING, "Retrying")),
        (15, StateSpec(T.COMPLETED)),
    )
    assert [u.total_run_time_delta for u in updates] == [0, 0, 3, 0, 2.5, 2.5]
    assert [u.total_run_time for u in updates] == [0, 0, 3, 3, 5.5, 8]


def test_next_scheduled_start_time_is_set_on_scheduled_and_cleared_on_leaving() -> None:
    updates = write_all(
        (0, StateSpec(T.SCHEDULED, scheduled_time=seconds(60))),
        (60, StateSpec(T.SCHEDULED, "Late", scheduled_time=seconds(60))),
        (70, StateSpec(T.PENDING)),
    )
    assert [u.next_scheduled_start_time for u in updates] == [seconds(60), seconds(60), None]


def test_expected_start_time_is_the_first_due_time() -> None:
    scheduled = write_all(
        (0, StateSpec(T.SCHEDULED, scheduled_time=seconds(60))),
        (61, StateSpec(T.PENDING)),
        (62, StateSpec(T.SCHEDULED, scheduled_time=seconds(90))),
    )
    assert {u.expected_start_time for u in scheduled} == {seconds(60)}
    (ad_hoc,) = write_all((5, StateSpec(T.PENDING)))
    assert ad_hoc.expected_start_time == seconds(5)


def test_state_timestamps_strictly_increase_when_the_clock_does_not() -> None:
    updates = write_all(
        (10, StateSpec(T.PENDING)), (10, StateSpec(T.RUNNING)), (9, StateSpec(T.COMPLETED))
    )
    stamps = [u.state_timestamp for u in updates]
    assert stamps[0] == seconds(10)
    assert stamps[0] < stamps[1] < stamps[2]
    assert stamps[2] - stamps[0] == timedelta(microseconds=2)


def test_a_retried_flow_run_through_the_rules_and_the_bookkeeping() -> None:
    """Drives a run with one retry the way the server does: decide, write, repeat."""
    snapshot = RunSnapshot(retries=1, retry_delays=(30.0,))
    times = RunTimes()
    proposals = [
        (0, T.SCHEDULED), (1, T.PENDING), (2, T.RUNNING), (5, T.FAILED),
        (35, T.RUNNING), (40, T.FAILED),
    ]  # fmt: skip
    written_names = []
    for number, (at, state_type) in enumerate(proposals):
        proposal = Proposal(StateSpec(state_type), transition_id=f"t{number}")
        decision = decide_flow_run(snapshot, proposal, seconds(at))
        assert decision.state is not None, decision.reason
        update = bookkeeping(times, decision.state, seconds(at))
        times = times_after(update)
        snapshot = RunSnapshot(
            decision.state,
            proposal.transition_id,
            run_count=update.run_count,
            retries=1,
            retry_delays=(30.0,),
        )
        written_names.append(decision.state.name)
    assert written_names == [
        "Scheduled", "Pending", "Running", "AwaitingRetry", "Retrying", "Failed",
    ]  # fmt: skip
    assert (times.run_count, times.total_run_time) == (2, 8.0)
    assert (times.start_time, times.end_time) == (seconds(2), seconds(40))
