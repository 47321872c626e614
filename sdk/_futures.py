"""Futures of submitted task runs, and ``wait`` / ``as_completed`` over several of them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from runplane._client.states import State, StateType

if TYPE_CHECKING:
    from runplane._engine.outcome import Outcome

R = TypeVar("R")


class RunplaneFuture(Generic[R]):
    """The eventual end of a submitted task run.

    ``result()`` waits and returns the value (or raises the task's exception); ``state``
    is the run's current state; ``wait()`` only waits. Passing a future to another task
    makes that task wait for it and receive its value.
    """

    __slots__ = ("_future", "_running", "task_run_id")

    def __init__(self, task_run_id: uuid.UUID, future: concurrent.futures.Future[Outcome]) -> None:
        self.task_run_id = task_run_id
        self._future = future
        self._running = False

    def __repr__(self) -> str:
        return f"RunplaneFuture(task_run_id={self.task_run_id}, state={self.state.name})"

    def mark_running(self) -> None:
        self._running = True

    @property
    def state(self) -> State:
        """The final state when done, else Running or Pending."""
        if self._future.done():
            return self.outcome().state()
        kind = StateType.RUNNING if self._running else StateType.PENDING
        return State(type=kind)

    def done(self) -> bool:
        return self._future.done()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until the run ends or ``timeout`` seconds pass; returns whether it ended."""
        done, _ = concurrent.futures.wait([self._future], timeout=timeout)
        return bool(done)

    def outcome(self, timeout: float | None = None) -> Outcome:
        return self._future.result(timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        """The task's return value; raises its exception when it did not complete.

        With ``raise_on_failure=False`` the exception is returned instead of raised.
        Raises ``TimeoutError`` when the run has not ended within ``timeout`` seconds.
        """
        outcome = self.outcome(timeout)
        if outcome.completed or raise_on_failure:
            value: R = outcome.unwrap()
            return value
        error: Any = outcome.error or RuntimeError(outcome.message)
        return error  # type: ignore[no-any-return]

    def add_done_callback(self, fn: Callable[[RunplaneFuture[R]], object]) -> None:
        self._future.add_done_callback(lambda _: fn(self))


class RunplaneFutureList(list[RunplaneFuture[R]]):
    """The futures ``Task.map`` returns, one per mapped run, with ``wait`` and ``result``
    over all of them."""

    def wait(self, timeout: float | None = None) -> None:
        """Waits until every run ends, or ``timeout`` seconds pass."""
        wait(self, timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[R]:
        """Every run's value, in order; raises the first failed run's exception (returns
        it in its place with ``raise_on_failure=False``).

        Raises ``TimeoutError`` when the runs have not all ended within ``timeout`` seconds.
        """
        _, not_done = wait(self, timeout)
        if not_done:
            raise TimeoutError(f"{len(not_done)} of {len(self)} mapped runs did not end in time")
        return [future.result(raise_on_failure=raise_on_failure) for future in self]


class DoneAndNotDone(NamedTuple):
    done: set[RunplaneFuture[Any]]
    not_done: set[RunplaneFuture[Any]]


def wait(futures: Iterable[RunplaneFuture[Any]], timeout: float | None = None) -> DoneAndNotDone:
    """Waits until every future is done, or ``timeout`` seconds pass."""
    by_inner = {future._future: future for future in futures}
    done, not_done = concurrent.futures.wait(by_inner, timeout=timeout)
    return DoneAndNotDone({by_inner[f] for f in done}, {by_inner[f] for f in not_done})


def as_completed(
    futures: Iterable[RunplaneFuture[R]], timeout: float | None = None
) -> Iterator[RunplaneFuture[R]]:
    """Yields the futures as their runs end; ``TimeoutError`` after ``timeout`` seconds."""
    by_inner = {future._future: future for future in futures}
    for inner in concurrent.futures.as_completed(by_inner, timeout=timeout):
        yield by_inner[inner]


def resolved(task_run_id: uuid.UUID, outcome: Outcome) -> RunplaneFuture[Any]:
    """A future that is already done."""
    inner: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
    inner.set_result(outcome)
    return RunplaneFuture(task_run_id, inner)


async def wait_async(futures: Iterable[RunplaneFuture[Any]]) -> None:
    """Waits until every future is done, leaving the running event loop free meanwhile."""
    pending = [asyncio.wrap_future(future._future) for future in futures if not future.done()]
    if pending:
        await asyncio.wait(pending)
