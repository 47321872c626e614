"""Runs task runs: inline for direct calls, on the flow's task runner for ``submit``/``map``."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from runplane._engine.off_loop import off_loop
from runplane._engine.outcome import Outcome
from runplane._engine.parameters import Unmapped, bind, call_arguments
from runplane._engine.task_run import TaskRun
from runplane._engine.task_slots import take_slots, take_slots_async
from runplane._engine.timeouts import sync_timeout, with_timeout
from runplane._futures import RunplaneFuture, RunplaneFutureList, wait_async
from runplane._runtime.context import flow_run_context, task_run_context

if TYPE_CHECKING:
    from runplane._engine.flow_run import FlowRunEngine
    from runplane._tasks import Task

Caller = Callable[[Callable[..., Any], Sequence[Any], Mapping[str, Any]], Any]


def _direct(fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return fn(*args, **kwargs)


def _prints(run: TaskRun) -> AbstractContextManager[Any]:
    """Prints become this task run's logs when its ``log_prints`` says so, or, left unset,
    when its flow's does; ``log_prints=False`` prints plainly inside such a flow."""
    flow = flow_run_context.get()
    inherited = flow is not None and flow.log_prints
    wanted = run.task.log_prints
    if wanted is None:
        wanted = inherited
    if not wanted and not inherited:
        return nullcontext()
    from runplane._runtime.run_logs import capture_prints

    return capture_prints(enabled=wanted)


def drive_sync(run: TaskRun, call: Caller = _direct) -> Outcome:
    """Runs a synchronous task's attempts in this thread."""
    early = run.not_ready() or run.cached()
    if early is not None:
        return early
    task = run.task
    while True:
        if run.tags and (refused := take_slots(run)) is not None:
            return refused
        token = run.begin_attempt()
        try:
            with sync_timeout(task.timeout_seconds), _prints(run):
                value = call(task.fn, run.args, run.kwargs)
        except Exception as error:
            run.release_slots()  # before a retry's delay, not after it
            delay = run.attempt_failed(error)
            if delay is None:
                return run.fail(error)
            time.sleep(delay)
            continue
        except BaseException as error:
            run.crash(error)
            raise
        finally:
            task_run_context.reset(token)
            run.release_slots()  # the function ended: its slots are free for others
        return run.complete(value)


async def drive_async(run: TaskRun) -> Outcome:
    """Runs an async task's attempts in the running event loop.

    The loop is never blocked: upstream futures are awaited, and the steps that talk to
    the server or to result storage (the cache lookup, persisting the outcome, concurrency
    slots) run in a worker thread. A task that persists nothing does no I/O in its steps.
    """
    if run.upstream:
        await wait_async(run.upstream)
    early = run.not_ready()
    if early is None and run.task.active_cache_policy is not None:
        early = await off_loop(run.cached)
    if early is not None:
        return early
    task = run.task
    persists = task.persists
    while True:
        if run.tags and (refused := await take_slots_async(run)) is not None:
            return refused
        token = run.begin_attempt()
        try:
            with _prints(run):
                value = await with_timeout(task.fn(*run.args, **run.kwargs), task.timeout_seconds)
        except Exception as error:
            await _release_slots(run)  # before a retry's delay, not after it
            delay = run.attempt_failed(error)
            if delay is None:
                return await off_loop(run.fail, error) if persists else run.fail(error)
            await asyncio.sleep(delay)
            continue
        except BaseException as error:
            run.crash(error)
            raise
        finally:
            task_run_context.reset(token)
            await _release_slots(run)
        return await off_loop(run.complete, value) if persists else run.complete(value)


async def _release_slots(run: TaskRun) -> None:
    """``run.release_slots()`` off the loop: giving slots back is a round trip."""
    if run.tags:  # only a run with tags can hold slots
        await off_loop(run.release_slots)


def call_task(
    task: Task[Any, Any],
    engine: FlowRunEngine,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    return_state: bool,
) -> Any:
    """A direct call of a synchronous task inside a flow run."""
    outcome = drive_sync(TaskRun(task, engine, args, kwargs))
    return outcome.state() if return_state else outcome.unwrap()


async def call_task_async(
    task: Task[Any, Any],
    engine: FlowRunEngine,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    return_state: bool,
) -> Any:
    """A direct call (awaited) of an async task inside a flow run."""
    outcome = await drive_async(TaskRun(task, engine, args, kwargs))
    return outcome.state() if return_state else outcome.unwrap()


def submit_task(
    task: Task[Any, Any],
    engine: FlowRunEngine,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    wait_for: Iterable[Any] | None = None,
) -> RunplaneFuture[Any]:
    """Starts a task run on the flow run's task runner and returns its future."""
    run = TaskRun(task, engine, args, kwargs, list(wait_for or ()), submitted=True)
    runner = engine.task_runner()
    if task.is_async:

        def work() -> Outcome:
            return asyncio.run(drive_async(run))
    else:

        def work() -> Outcome:
            return drive_sync(run, runner.call)

    context = contextvars.copy_context()
    future = RunplaneFuture[Any](run.id, runner.submit(lambda: context.run(work)))
    run.future = future
    engine.track(future)
    return future


def map_task(
    task: Task[Any, Any],
    engine: FlowRunEngine,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    wait_for: Iterable[Any] | None = None,
) -> RunplaneFutureList[Any]:
    """One submitted run per item of the iterable arguments; ``unmapped`` ones stay whole.

    A future argument is waited for first and its result mapped over (or passed whole
    when it is not iterable); ``unmapped(future)`` passes the future itself to every run.
    """
    parameters = bind(task.signature, args, kwargs)
    iterables: dict[str, list[Any]] = {}
    static: dict[str, Any] = {}
    waits = list(wait_for or ())
    for name, value in parameters.items():
        if isinstance(value, RunplaneFuture):
            # Mapped over its result, as Prefect does: the runs are recorded after it.
            waits.append(value)
            value = _mapped_result(task, name, value)
        if isinstance(value, Unmapped):
            static[name] = value.value
        elif isinstance(value, str | bytes) or not isinstance(value, Iterable):
            static[name] = value
        else:
            iterables[name] = list(value)
    if not iterables:
        raise ValueError(f"{task.name}.map() needs at least one iterable argument")
    lengths = {len(items) for items in iterables.values()}
    if len(lengths) > 1:
        sizes = ", ".join(f"{name}={len(items)}" for name, items in iterables.items())
        raise ValueError(f"{task.name}.map() got iterables of different lengths: {sizes}")
    futures = RunplaneFutureList[Any]()
    for index in range(lengths.pop()):
        call_parameters = {**static, **{name: items[index] for name, items in iterables.items()}}
        call_args, call_kwargs = call_arguments(task.signature, call_parameters)
        futures.append(submit_task(task, engine, tuple(call_args), call_kwargs, waits))
    return futures


def _mapped_result(task: Task[Any, Any], name: str, future: RunplaneFuture[Any]) -> Any:
    """The result of a future given to ``map``; ``UpstreamFailed`` when its run failed."""
    outcome = future.outcome()
    if not outcome.completed:
        from runplane._engine.errors import UpstreamFailed

        raise UpstreamFailed(
            f"{task.name}.map() cannot map over {name!r}: upstream task run "
            f"{outcome.task_run_id} ended {outcome.name}"
        )
    return outcome.value
