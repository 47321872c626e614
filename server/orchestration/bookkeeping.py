"""The run-row columns that follow from writing a state, for flow runs and task runs alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from runplane.server.orchestration.model import StateSpec
from runplane.server.orchestration.states import TERMINAL_TYPES, StateType

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class RunTimes:
    """The run row's bookkeeping columns before the write. `total_run_time` is in seconds."""

    state_type: StateType | None = None
    state_timestamp: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    total_run_time: float = 0.0
    run_count: int = 0
    expected_start_time: datetime | None = None
    next_scheduled_start_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class RunUpdate:
    """The run row's columns after the write: every field is the new value of its column.

    `total_run_time_delta` is what this write added to `total_run_time` (seconds), for callers
    that prefer to increment in SQL.
    """

    state_type: StateType
    state_name: str
    state_timestamp: datetime
    start_time: datetime | None
    end_time: datetime | None
    total_run_time: float
    total_run_time_delta: float
    run_count: int
    expected_start_time: datetime | None
    next_scheduled_start_time: datetime | None


def state_timestamp(previous: datetime | None, now: datetime) -> datetime:
    """`now`, moved just past the previous state's timestamp if the clock did not advance."""
    if previous is not None and now <= previous:
        return previous + _TICK
    return now


def bookkeeping(times: RunTimes, written: StateSpec, now: datetime) -> RunUpdate:
    """The column values after writing `written` at `now` onto a run whose columns are `times`.

    The new state's timestamp is `now`, kept strictly after the previous one. Time spent
    RUNNING is added when a run leaves (or renames) RUNNING. A run leaving a terminal state for
    a non-terminal one is a rerun: its run_count starts over, so its retries apply again.
    """
    stamp = state_timestamp(times.state_timestamp, now)
    delta = 0.0
    if times.state_type is StateType.RUNNING and times.state_timestamp is not None:
        delta = (stamp - times.state_timestamp).total_seconds()
    return RunUpdate(
        state_type=written.type,
        state_name=written.name,
        state_timestamp=stamp,
        start_time=_start_time(times, written, stamp),
        end_time=stamp if written.type in TERMINAL_TYPES else None,
        total_run_time=times.total_run_time + delta,
        total_run_time_delta=delta,
        run_count=_run_count(times, written),
        expected_start_time=_expected_start_time(times, written, stamp),
        next_scheduled_start_time=(
            written.scheduled_time if written.type is StateType.SCHEDULED else None
        ),
    )


def _start_time(times: RunTimes, written: StateSpec, stamp: datetime) -> datetime | None:
    if times.start_time is None and written.type is StateType.RUNNING:
        return stamp
    return times.start_time


def _run_count(times: RunTimes, written: StateSpec) -> int:
    count = times.run_count
    if times.state_type in TERMINAL_TYPES and written.type not in TERMINAL_TYPES:
        count = 0
    # Resuming a pause or renaming a running state continues the same attempt.
    continuing = times.state_type in (StateType.RUNNING, StateType.PAUSED)
    if written.type is StateType.RUNNING and not continuing:
        count += 1
    # A suspension resumed (PAUSED to SCHEDULED) continues its attempt in a new process too:
    # the RUNNING that follows counts it again, so the count steps back here.
    if times.state_type is StateType.PAUSED and written.type is StateType.SCHEDULED:
        count = max(count - 1, 0)
    return count


def _expected_start_time(times: RunTimes, written: StateSpec, stamp: datetime) -> datetime | None:
    if times.expected_start_time is not None:
        return times.expected_start_time
    if written.type is StateType.SCHEDULED and written.scheduled_time is not None:
        return written.scheduled_time
    return stamp
