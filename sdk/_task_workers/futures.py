"""The future ``Task.delay`` returns: it waits on the server's watch of the task run."""

from __future__ import annotations

import threading
import uuid
from typing import Any, Generic, TypeVar

from runplane._client.models import TaskRun
from runplane._client.states import State, StateType
from runplane._engine.client import EngineClient

R = TypeVar("R")

_FINAL = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})


class BackgroundTaskFuture(Generic[R]):
    """A background task run: ``result()`` waits for a task worker to finish it and returns
    its value (or raises its exception); ``wait()`` only waits; ``state`` is its state now.

    Waiting follows the run on a server stream (WatchTaskRun): the change arrives the
    moment the worker reports it, without polling.
    """

    def __init__(self, task_run: TaskRun, client: EngineClient) -> None:
        self.task_run_id: uuid.UUID = task_run.id
        self._client = client
        self._final: State | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BackgroundTaskFuture(task_run_id={self.task_run_id})"

    @property
    def state(self) -> State:
        """The run's current state, read from the server unless already final."""
        if self._final is not None:
            return self._final
        run = self._client.get_task_run(self.task_run_id)
        state = run.state or State(type=StateType.SCHEDULED)
        if state.type in _FINAL:
            self._final = state
        return state

    def done(self) -> bool:
        return self.state.type in _FINAL

    def wait(self, timeout: float | None = None) -> State | None:
        """Waits until the run is final, or ``timeout`` seconds pass; returns the final state
        (None on timeout)."""
        if self._final is not None:
            return self._final
        result: list[State] = []

        def follow() -> None:
            for run in self._client.watch_task_run(self.task_run_id):
                if run.state is not None and run.state.type in _FINAL:
                    result.append(run.state)
                    return

        # The watch runs on the client's loop thread; a thread bounds the wait with timeout.
        follower = threading.Thread(target=follow, daemon=True, name="runplane-task-watch")
        follower.start()
        follower.join(timeout)
        if result:
            with self._lock:
                self._final = result[0]
        return self._final

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        """The run's value once a task worker finished it; raises its exception if it failed
        (returns it with ``raise_on_failure=False``), and ``TimeoutError`` when it has not
        ended within ``timeout`` seconds."""
        state = self.wait(timeout)
        if state is None:
            raise TimeoutError(f"task run {self.task_run_id} did not end within {timeout} s")
        return state.result(raise_on_failure=raise_on_failure)
