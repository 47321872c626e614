"""Builds the ``State`` models the engine proposes and returns, in one place."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import PrivateAttr

from runplane._client.states import ResultRef, State, StateDetails, StateType


def make_state(
    type: StateType,
    name: str = "",
    message: str = "",
    *,
    result: ResultRef | None = None,
    timestamp: datetime | None = None,
    scheduled_time: datetime | None = None,
    cache_key: str | None = None,
    cache_expiration: datetime | None = None,
    retriable: bool = False,
    child_flow_run_id: uuid.UUID | None = None,
    upstream_task_run_id: uuid.UUID | None = None,
) -> State:
    details = StateDetails(
        scheduled_time=scheduled_time,
        cache_key=cache_key,
        cache_expiration=cache_expiration,
        retriable=retriable,
        child_flow_run_id=child_flow_run_id,
        upstream_task_run_id=upstream_task_run_id,
    )
    return State(
        type=type,
        name=name or type.value.title(),
        message=message,
        result=result,
        timestamp=timestamp,
        details=details,
    )


def result_of(state: State) -> ResultRef | None:
    """The result reference a state carries."""
    return state.result_ref


def utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


INLINE_LIMIT = 4096
"""Largest JSON text carried inline in a state whose result was not persisted."""


def small_inline_ref(value: object) -> ResultRef | None:
    """An inline reference for a small JSON-native value, so ``state.result()`` can read it."""
    if value is not None and not isinstance(value, str | int | float | bool | list | dict | tuple):
        return None
    import json

    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return None
    if len(text) > INLINE_LIMIT:
        return None
    return ResultRef(serializer="json", inline_value=json.loads(text))


class RunState(State):
    """A final state handed back in the process that ran it.

    ``result()`` also returns a value that was never persisted, and re-raises the
    run's own exception; elsewhere the same state reads through its result reference.
    """

    _value: Any = PrivateAttr(default=None)
    _error: BaseException | None = PrivateAttr(default=None)
    _has_value: bool = PrivateAttr(default=False)

    def result(self, raise_on_failure: bool = True) -> Any:
        if self._has_value and self.type is StateType.COMPLETED:
            return self._value
        if self._error is not None and self.type is not StateType.COMPLETED:
            if raise_on_failure:
                raise self._error
            return self._error
        return super().result(raise_on_failure)


def local_state(
    state: State, *, value: Any = None, error: BaseException | None = None, has_value: bool
) -> RunState:
    """``state`` carrying the in-process value (or error) of its run."""
    local = RunState(
        type=state.type,
        name=state.name,
        message=state.message,
        id=state.id,
        timestamp=state.timestamp,
        result=state.result_ref,
        details=state.details,
    )
    local._value, local._error, local._has_value = value, error, has_value
    return local
