"""What a run's returned value means when it is a state, or a collection of states.

A flow or task that returns ``Completed()``, ``Failed()`` and the like ends in that state;
a returned list of states is judged together, as Prefect judges it.
"""

from __future__ import annotations

from typing import Any

from runplane._client.states import State, StateType
from runplane._engine.states import RunState
from runplane._states import Cancelled, Completed, Failed

__all__ = ["returned_state", "state_value"]


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
