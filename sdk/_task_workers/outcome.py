"""Calling a task outside a flow run, with its retries, and the final state that records the
call: its result persisted as the engine persists task results."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runplane._client.states import State, StateType
from runplane._engine.failures import describe
from runplane._engine.parameters import call_arguments
from runplane._engine.results import ResultStores
from runplane._engine.states import make_state, small_inline_ref

if TYPE_CHECKING:
    from runplane._tasks import Task

logger = logging.getLogger("runplane.task_workers")

_stores = ResultStores()


def _delay_before(task: Task[Any, Any], retry: int) -> float:
    delays = task.retry_delays
    if not delays:
        return 0.0
    return float(delays[min(retry, len(delays) - 1)])


def _retrying(task: Task[Any, Any], attempt: int, error: BaseException) -> bool:
    if attempt > task.retries or not isinstance(error, Exception):
        return False
    if task.retry_condition_fn is None:
        return True
    try:
        return bool(task.retry_condition_fn(task, None, make_state(StateType.FAILED)))
    except Exception:
        return False


def call_blocking(
    task: Task[Any, Any], parameters: dict[str, Any]
) -> tuple[Any, BaseException | None]:
    """The task's value, or the exception of its last attempt, after its retries."""
    args, kwargs = call_arguments(task.signature, parameters)
    attempt = 0
    while True:
        attempt += 1
        try:
            return task.fn(*args, **kwargs), None
        except Exception as error:
            if not _retrying(task, attempt, error):
                return None, error
            logger.warning("task %s failed (%s); retrying", task.name, describe(error))
            time.sleep(_delay_before(task, attempt - 1))


async def call_async(
    task: Task[Any, Any], parameters: dict[str, Any], run_sync: Callable[..., Any]
) -> tuple[Any, BaseException | None]:
    """As ``call_blocking``, for an async task, or a sync one through ``run_sync``."""
    if not task.is_async:
        result: tuple[Any, BaseException | None] = await run_sync(call_blocking, task, parameters)
        return result
    args, kwargs = call_arguments(task.signature, parameters)
    attempt = 0
    while True:
        attempt += 1
        try:
            return await task.fn(*args, **kwargs), None
        except Exception as error:
            if not _retrying(task, attempt, error):
                return None, error
            logger.warning("task %s failed (%s); retrying", task.name, describe(error))
            await asyncio.sleep(_delay_before(task, attempt - 1))


def final_state(task: Task[Any, Any], value: Any, error: BaseException | None) -> State:
    """COMPLETED with the value persisted in the task's result storage (inline when the task
    says ``persist_result=False`` and the value is small JSON), or FAILED with the exception
    stored for ``result()`` to raise."""
    store = _stores.for_options(task.result_options)
    if error is not None:
        ref = store.persist_exception(error)
        return make_state(StateType.FAILED, message=describe(error), result=ref)
    if task.result_options.persist_result is False:
        return make_state(StateType.COMPLETED, result=small_inline_ref(value))
    return make_state(StateType.COMPLETED, result=store.persist(value))
