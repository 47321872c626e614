"""How the dashboard writes times, durations and states as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runplane._client.models import FlowRun, State, StateType

STATE_ORDER: tuple[StateType, ...] = (
    StateType.COMPLETED,
    StateType.RUNNING,
    StateType.SCHEDULED,
    StateType.PENDING,
    StateType.PAUSED,
    StateType.CANCELLING,
    StateType.CANCELLED,
    StateType.FAILED,
    StateType.CRASHED,
)
"""The order of states in charts and legends: good news first, bad news on top."""


def time_text(moment: datetime | None) -> str:
    """A time in UTC to the second, or a dash."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration_text(span: timedelta | None) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 05 s`` or ``2 h 03 min``."""
    if span is None:
        return "-"
    seconds = span.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def run_duration(run: FlowRun, now: datetime) -> timedelta | None:
    """How long a run ran: from its start to its end, or to now while it runs."""
    if run.start_time is None:
        return None
    return (run.end_time or now) - run.start_time


def state_class(state: State | StateType | None) -> str:
    """The CSS class of a state's colour, e.g. ``state-completed``."""
    if state is None:
        return "state-none"
    kind = state if isinstance(state, StateType) else state.type
    return f"state-{kind.value.lower()}"


def state_label(state: State | None) -> str:
    """A state's name (``Late``, ``AwaitingRetry``), or its type's when it has none."""
    if state is None:
        return "no state"
    return state.name or state.type.value.title()


def run_time(run: FlowRun) -> datetime | None:
    """The time a run belongs to on the runs page: when it was due, else when it started or
    was created."""
    return run.expected_start_time or run.start_time or run.create_time
