"""The engine's blocking steps (round trips to the server, result storage), run from the
event loop of an async flow or task in a worker thread, so that the loop keeps running.

The workers are kept per thread that runs such loops, not per loop as ``asyncio.to_thread``
keeps them: a script that calls ``asyncio.run`` for each flow run would otherwise start a
worker thread for every run and join it as the run ends. As with ``to_thread``, the step
sees the caller's context variables, and a thread's steps run on at most as many workers
as the loop's default executor would have.

A step is handed over with as little as can be: a queue the idle workers wait on, and the
answer scheduled straight onto the waiting loop. Each flow run of an async flow crosses
here twice, and ``run_in_executor`` (two futures chained across threads) cost about twice
as much per crossing.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

MAX_WORKERS = min(32, (os.cpu_count() or 1) + 4)
"""As many as ``ThreadPoolExecutor`` (and so the loop's default executor) would start."""

_Loop = asyncio.AbstractEventLoop
_Job = tuple[_Loop, "asyncio.Future[Any]", contextvars.Context, Callable[[], Any]]


class _Workers:
    """Threads that run the steps of one thread's event loops; idle ones wait on a queue."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._count = 0

    def submit(self, job: _Job) -> None:
        with self._lock:
            start = self._idle == 0 and self._count < MAX_WORKERS
            if start:
                self._count += 1
            else:
                self._idle -= 1  # this job takes an idle worker (or waits for one)
        self._jobs.put(job)
        if start:
            threading.Thread(target=self._work, name="runplane-engine-step", daemon=True).start()

    def stop(self) -> None:
        """Ends the workers once they are idle (the thread that owned them has ended)."""
        for _ in range(self._count):
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, context, step = job
            del job  # an idle worker keeps no loop or answer alive
            result, error = _run(context, step)
            # Idle before the answer is sent: the caller's next step, which the answer may
            # let it submit at once, finds this worker instead of starting another.
            with self._lock:
                self._idle += 1
            _answer(loop, future, result, error)
            del loop, future, context, step, result, error


def _run(context: contextvars.Context, step: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    """The step's value, or the exception it raised."""
    try:
        return context.run(step), None
    except BaseException as error:
        return None, error


def _answer(
    loop: _Loop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    # A loop that closed while the step ran refuses the answer: nobody waits for it.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the caller was cancelled; the step ran to its end all the same
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class _Owned:
    """Held by the owning thread alone: when the thread ends, it is collected and stops
    the workers (which hold the ``_Workers`` but not this)."""

    def __init__(self) -> None:
        self.workers = _Workers()

    def __del__(self) -> None:
        self.workers.stop()


_local = threading.local()


def _forget_workers() -> None:
    """A forked child has this thread's workers on record but not their threads."""
    global _local
    _local = threading.local()


os.register_at_fork(after_in_child=_forget_workers)


def _workers() -> _Workers:
    """This thread's workers; they end when the thread does."""
    owned: _Owned | None = getattr(_local, "owned", None)
    if owned is None:
        owned = _local.owned = _Owned()
    return owned.workers


async def off_loop(step: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``await asyncio.to_thread(step, ...)``, on this thread's lasting workers."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[R] = loop.create_future()
    context = contextvars.copy_context()
    _workers().submit((loop, future, context, lambda: step(*args, **kwargs)))
    return await future
