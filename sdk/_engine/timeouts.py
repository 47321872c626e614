"""Enforces ``timeout_seconds`` on synchronous code by raising ``TimedOut`` inside it.

On the main thread a SIGALRM timer interrupts even blocking calls such as ``time.sleep``.
In other threads (submitted task runs on the thread pool) a timer thread raises the
exception asynchronously in the target thread, which takes effect at its next Python
instruction: Python code that loops is stopped on time, but a call blocked in C
(``time.sleep``, a socket read, a long ``Event.wait()``) is only interrupted when it
returns; the run is then recorded TimedOut with the duration it was allowed. A task that
must be stopped in the middle of such a call belongs on the ``ProcessPoolTaskRunner``,
which ends the worker process when the timeout passes.
Async code uses ``asyncio.timeout`` instead.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

from runplane._engine.errors import TimedOut

T = TypeVar("T")


async def with_timeout(awaitable: Awaitable[T], seconds: float | None) -> T:
    """The awaitable's value; ``TimedOut`` when it takes longer than ``seconds``."""
    if seconds is None:
        return await awaitable
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError as error:
        raise TimedOut(_message(seconds)) from error


def _message(seconds: float) -> str:
    return f"timed out after {seconds:g} seconds"


def _can_use_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """SIGALRM after ``seconds``; an earlier timer already set (an outer timeout, a test
    harness) is left alone while it is due first, and re-armed for its remaining time."""
    outer_remaining = signal.getitimer(signal.ITIMER_REAL)[0]
    if outer_remaining and outer_remaining <= seconds:
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimedOut(_message(seconds))

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_remaining:
            left = outer_remaining - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))


@contextmanager
def _async_exception(seconds: float) -> Iterator[None]:
    import ctypes  # here: most runs have no timeout, and a process may never set one

    target = threading.get_ident()
    lock = threading.Lock()
    active = True

    def expire() -> None:
        with lock:
            if active:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(target), ctypes.py_object(TimedOut)
                )

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except TimedOut as error:
        if not error.args:
            # An asynchronous exception arrives as a bare class: give it the duration,
            # keeping the traceback that shows where it interrupted the code.
            error.args = (_message(seconds),)
        raise
    finally:
        with lock:
            active = False
        timer.cancel()


@contextmanager
def sync_timeout(seconds: float | None) -> Iterator[None]:
    """Raises ``TimedOut`` in the block when it runs longer than ``seconds``."""
    if seconds is None:
        yield
        return
    manager = _alarm(seconds) if _can_use_alarm() else _async_exception(seconds)
    with manager:
        yield
