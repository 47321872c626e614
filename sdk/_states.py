"""State constructors: ``Completed()``, ``Failed()`` and the rest, named as Prefect names them.

A flow or task that returns one of these ends in that state, with its message; ``data``
is the value ``state.result()`` gives back (for a failed state, an exception it raises).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runplane._client.states import State, StateType
from runplane._engine.states import RunState, local_state, make_state

__all__ = [
    "Cancelled",
    "Completed",
    "Crashed",
    "Failed",
    "Pending",
    "Running",
    "Scheduled",
    "returned_state",
    "state_value",
]


def _state(
    type: StateType,
    message: str,
    data: Any,
    name: str,
    scheduled_time: datetime | None = None,
) -> State:
    state = make_state(type, name, message, scheduled_time=scheduled_time)
    error = data if isinstance(data, BaseException) else None
    completed = type is StateType.COMPLETED
    return local_state(state, value=data, error=error, has_value=completed)


def Completed(*, message: str = "", data: Any = None, name: str = "") -> State:
    """A COMPLETED state whose result is ``data``."""
    return _state(StateType.COMPLETED, message, data, name)


def Failed(*, message: str = "", data: Any = None, name: str = "") -> State:
    """A FAILED state; ``data`` may be the exception ``result()`` raises."""
    return _state(StateType.FAILED, message, data, name)


def Cancelled(*, message: str = "", data: Any = None, name: str = "") -> State:
    """A CANCELLED state."""
    return _state(StateType.CANCELLED, message, data, name)


def Crashed(*, message: str = "", data: Any = None, name: str = "") -> State:
    """A CRASHED state."""
    return _state(StateType.CRASHED, message, data, name)


def Pending(*, message: str = "", data: Any = None, name: str = "") -> State:
    """A PENDING state."""
    return _state(StateType.PENDING, message, data, name)


def Running(*, message: str = "", data: Any = None, name: str = "") -> State:
    """A RUNNING state."""
    return _state(StateType.RUNNING, message, data, name)


def Scheduled(
    *,
    scheduled_time: datetime | None = None,
    message: str = "",
    data: Any = None,
    name: str = "",
) -> State:
    """A SCHEDULED state, due at ``scheduled_time`` (None: now)."""
    return _state(StateType.SCHEDULED, message, data, name, scheduled_time)


def state_value(state: State) -> Any:
    """The value a COMPLETED state carries: its in-process data, or its stored result."""
    if isinstance(state, RunState) or state.result_ref is not None:
        return state.result()
    return None


def returned_state(value: Any) -> State | None:
    """The state a run's return value stands for: a state itself, or a non-empty list, tuple
    or set of states taken together (as Prefect does); None for any other value."""
    if isinstance(value, State):
        return value
    if type(value) not in (list, tuple, set) or not value:
        return None
    if not all(isinstance(item, State) for item in value):
        return None
    states: list[State] = list(value)
    total = len(states)
    failed = sum(state.type in _FAILURES for state in states)
    cancelled = sum(state.is_cancelled() for state in states)
    unfinished = sum(not state.is_final() for state in states)
    if failed == cancelled == unfinished == 0:
        return Completed(message="All states completed.", data=value)
    if cancelled:
        return Cancelled(message=f"{cancelled}/{total} states cancelled.", data=value)
    if failed:
        return Failed(message=f"{failed}/{total} states failed.", data=value)
    return Failed(message=f"{unfinished}/{total} states are not final.", data=value)


_FAILURES = frozenset({StateType.FAILED, StateType.CRASHED})
