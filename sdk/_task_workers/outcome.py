"""Calling a task outside a flow run, with its retries and its timeout, and the final state
that records the call: its result persisted as the engine persists task results."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runplane._client.states import State, StateType
from runplane._engine.failures import describe
from runplane._engine.parameters import call_arguments
from runplane._engine.results import ResultStores
from runplane._engine.states import make_state, small_inline_ref
from runplane._engine.timeouts import sync_timeout, with_timeout
from runplane._runtime.context import TaskRunContext, task_run_context

if TYPE_CHECKING:
    from runplane._tasks import Task

logger = logging.getLogger("runplane.task_workers")

_stores = ResultStores()


def _retrying(task: Task[Any, Any], attempt: int, error: BaseException) -> bool:
    if not isinstance(error, Exception):
        return False
    failed = make_state(StateType.FAILED, message=describe(error))
    try:
        # No task run model here: the worker holds the run's id, not its record.
        return task.may_retry(attempt, lambda: (None, failed))
    except Exception:
        return False


@dataclass(frozen=True)
class OwnRun:
    """A task run of its own about to be called: what its context and logs need."""

    task: Task[Any, Any]
    run_id: uuid.UUID
    run_name: str
    parameters: dict[str, Any]


@contextmanager
def run_context(run: OwnRun, attempt: int) -> Iterator[None]:
    """The task run's context while its function runs: ``get_run_logger()`` and, with
    ``log_prints=True``, ``print`` write the run's logs (shipped through the engine's client)."""
    from runplane._engine.client import engine_client
    from runplane._runtime.run_logs import capture_prints

    engine_client().log_shipper()
    context = TaskRunContext(
        task_run_id=run.run_id,
        task_name=run.task.name,
        flow_run_id=None,
        task=run.task,
        run_count=attempt,
        log_prints=bool(run.task.log_prints),
        run_name=run.run_name,
        parameters=run.parameters,
    )
    token = task_run_context.set(context)
    try:
        with capture_prints(context.log_prints):
            yield
    finally:
        task_run_context.reset(token)


def call_blocking(run: OwnRun) -> tuple[Any, BaseException | None]:
    """The task's value, or the exception of its last attempt, after its retries."""
    task = run.task
    args, kwargs = call_arguments(task.signature, run.parameters)
    attempt = 0
    while True:
        attempt += 1
        try:
            with run_context(run, attempt), sync_timeout(task.timeout_seconds):
                return task.fn(*args, **kwargs), None
        except Exception as error:
            if not _retrying(task, attempt, error):
                return None, error
            logger.warning("task %s failed (%s); retrying", task.name, describe(error))
            time.sleep(task.wait_before_retry(attempt))


async def call_async(run: OwnRun) -> tuple[Any, BaseException | None]:
    """As ``call_blocking``, for an async task."""
    task = run.task
    args, kwargs = call_arguments(task.signature, run.parameters)
    attempt = 0
    while True:
        attempt += 1
        try:
            with run_context(run, attempt):
                return await with_timeout(task.fn(*args, **kwargs), task.timeout_seconds), None
        except Exception as error:
            if not _retrying(task, attempt, error):
                return None, error
            logger.warning("task %s failed (%s); retrying", task.name, describe(error))
            await asyncio.sleep(task.wait_before_retry(attempt))


def final_state(task: Task[Any, Any], value: Any, error: BaseException | None) -> State:
    """COMPLETED with the value persisted in the task's result storage (inline when the task
    says ``persist_result=False`` and the value is small JSON), or FAILED with the exception
    stored for ``result()`` to raise.

    The run's log lines are sent first, so that whoever sees it final finds its logs too.
    """
    from runplane._engine.client import engine_client

    engine_client().log_shipper().flush(5.0)
    store = _stores.for_options(task.result_options)
    if error is not None:
        ref = store.persist_exception(error)
        return make_state(StateType.FAILED, message=describe(error), result=ref)
    if task.result_options.persist_result is False:
        return make_state(StateType.COMPLETED, result=small_inline_ref(value))
    return make_state(StateType.COMPLETED, result=store.persist(value))
