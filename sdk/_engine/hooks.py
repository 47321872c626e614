"""Calls state-change hooks; a hook's exception is logged and never changes the state."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

logger = logging.getLogger("runplane.engine")


def _report(hook: Callable[..., Any], error: BaseException) -> None:
    name = getattr(hook, "__name__", repr(hook))
    logger.error("hook %s raised %s: %s", name, type(error).__name__, error, exc_info=error)


def run_hooks(hooks: Iterable[Callable[..., Any]], *args: Any) -> None:
    """Calls each hook with ``args``; awaits those that return a coroutine."""
    for hook in hooks:
        try:
            result = hook(*args)
            if inspect.isawaitable(result):
                _complete(result)
        except Exception as error:
            _report(hook, error)


def _complete(awaitable: Any) -> None:
    """Runs an async hook to its end, on its own loop if one is running here already."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_await(awaitable))
        return
    with ThreadPoolExecutor(1, thread_name_prefix="runplane-hook") as pool:
        pool.submit(asyncio.run, _await(awaitable)).result()


async def run_hooks_async(hooks: Iterable[Callable[..., Any]], *args: Any) -> None:
    for hook in hooks:
        try:
            result = hook(*args)
            if inspect.isawaitable(result):
                await result
        except Exception as error:
            _report(hook, error)


async def _await(awaitable: Any) -> Any:
    return await awaitable
