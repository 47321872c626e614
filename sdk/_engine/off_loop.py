"""The engine's blocking steps (round trips to the server, result storage), run from the
event loop of an async flow or task in a worker thread, so that the loop keeps running.

The workers are kept per thread that runs such loops, not per loop as ``asyncio.to_thread``
keeps them: a script that calls ``asyncio.run`` for each flow run would otherwise start a
worker thread for every run and join it as the run ends. As with ``to_thread``, the step
sees the caller's context variables, and a thread's steps run on at most as many workers
as the loop's default executor would have.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_local = threading.local()


def _workers() -> ThreadPoolExecutor:
    """This thread's workers; they end when the thread does (the pool is then collected)."""
    workers: ThreadPoolExecutor | None = getattr(_local, "workers", None)
    if workers is None:
        workers = _local.workers = ThreadPoolExecutor(thread_name_prefix="runplane-engine-step")
    return workers


async def off_loop(step: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``await asyncio.to_thread(step, ...)``, on this thread's lasting workers."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    call = functools.partial(context.run, step, *args, **kwargs)
    return await loop.run_in_executor(_workers(), call)
