"""How a task run ended, kept in memory: the value or error, and the state it reached.

The ``State`` model is only built when someone asks for it, which keeps direct task
calls free of model construction. A task with ``cache_result_in_memory=False`` keeps only
its result's reference here: each read of the value loads it from result storage.
"""

from __future__ import annotations

import uuid
from typing import Any

from runplane._client.states import ResultRef, State, StateType
from runplane._engine.states import local_state, make_state, small_inline_ref


class Outcome:
    """The end of one task run (or the tracking run of a subflow)."""

    __slots__ = (
        "_state",
        "_value",
        "error",
        "in_memory",
        "message",
        "name",
        "result",
        "task_run_id",
        "type",
    )

    def __init__(
        self,
        task_run_id: uuid.UUID,
        type: StateType,
        name: str,
        *,
        value: Any = None,
        error: BaseException | None = None,
        message: str = "",
        result: ResultRef | None = None,
        in_memory: bool = True,
    ) -> None:
        self.task_run_id = task_run_id
        self.type = type
        self.name = name
        # Without a stored result there is nothing to read back: the value stays.
        self.in_memory = in_memory or result is None
        self._value = value if self.in_memory else None
        self.error = error
        self.message = message
        self.result = result
        self._state: State | None = None

    @property
    def value(self) -> Any:
        """The run's value: the one kept in memory, or the stored one read back."""
        if self.in_memory or self.type is not StateType.COMPLETED:
            return self._value
        return self.state().result()

    @property
    def completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def state(self) -> State:
        if self._state is None:
            result = self.result
            if result is None and self.type is StateType.COMPLETED:
                result = small_inline_ref(self._value)
            state = make_state(self.type, self.name, self.message, result=result)
            self._state = local_state(
                state,
                value=self._value,
                error=self.error,
                has_value=self.completed and self.in_memory,
            )
        return self._state

    def unwrap(self) -> Any:
        """The value, or the run's exception raised again."""
        if self.type is StateType.COMPLETED:
            return self.value
        if self.error is not None:
            raise self.error
        raise RuntimeError(self.message or f"the task run ended {self.name}")
