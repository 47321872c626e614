"""State constructors: ``Completed()``, ``Failed()`` and the rest, named as Prefect names them.

A flow or task that returns one of these ends in that state, with its message; ``data``
is the value ``state.result()`` gives back (for a failed state, an exception it raises).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runplane._client.states import State, StateType
from runplane._engine.states import local_state, make_state

__all__ = [
    "Cancelled",
    "Completed",
    "Crashed",
    "Failed",
    "Pending",
    "Running",
    "Scheduled",
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
