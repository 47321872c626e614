"""``@task``: a function whose calls inside a flow run are recorded as task runs."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property, update_wrapper
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from runplane._engine import options as check
from runplane._engine.names import NameTemplate
from runplane._engine.results import ResultOptions, check_serializer
from runplane._engine.storage_keys import check_storage_key
from runplane._option_signatures import method_takes_options_of, takes_options_of
from runplane._runtime.context import flow_run_context

if TYPE_CHECKING:
    from runplane._client.states import State
    from runplane._futures import RunplaneFuture, RunplaneFutureList
    from runplane._runtime.cache import CacheKeyFn, CachePolicy
    from runplane._runtime.results import ResultSerializer, ResultStorage
    from runplane._task_workers.futures import BackgroundTaskFuture

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class TaskOptions:
    """The options of ``@task(...)`` and ``Task.with_options(...)``, as given.

    Declared here once: the decorator's and ``with_options``' keyword arguments are these
    fields (see _option_signatures). Applied to a function, the options make a task of it.
    """

    name: str | None = None
    description: str | None = None
    version: str | None = None
    tags: Iterable[str] | None = None
    retries: int | None = None
    retry_delay_seconds: check.RetryDelay | None = None
    retry_jitter_factor: float | None = None
    retry_condition_fn: Callable[..., bool] | None = None
    timeout_seconds: float | None = None
    cache_policy: CachePolicy | None = None
    cache_key_fn: CacheKeyFn | None = None
    cache_expiration: timedelta | float | None = None
    refresh_cache: bool = False
    persist_result: bool | None = None
    result_storage: ResultStorage | None = None
    result_serializer: ResultSerializer | str | None = None
    result_storage_key: str | None = None
    cache_result_in_memory: bool = True
    task_run_name: NameTemplate | None = None
    log_prints: bool | None = None
    on_completion: Iterable[Callable[..., Any]] | None = None
    on_failure: Iterable[Callable[..., Any]] | None = None

    def __call__(self, fn: Callable[P, T]) -> Task[P, T]:
        return Task(fn, self)


_TASK_OPTION_NAMES = frozenset(field.name for field in dataclasses.fields(TaskOptions))


class Task(Generic[P, R]):
    """A task: call it inside a flow to run it inline, ``submit`` it, or ``map`` it.

    Outside a flow run, calling a task records a task run of its own and calls it;
    ``delay`` sends a run to the task workers that serve the task (``serve_tasks``).
    """

    def __init__(self, fn: Callable[P, R], options: TaskOptions | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function, got {fn!r}")
        from runplane._retries import retry_delays

        self.fn = fn
        self.options = given = options or TaskOptions()
        self.name = check.check_name(given.name, fn, "task")
        self.description = given.description or inspect.getdoc(fn)
        self.version = given.version
        self.tags = check.check_tags(given.tags)
        self.retries = check.check_retries(given.retries)
        self.retry_delay_seconds = check.check_retry_delay(given.retry_delay_seconds)
        self.retry_delays = retry_delays(self.retry_delay_seconds, self.retries)
        self.retry_jitter_factor = check.check_jitter(given.retry_jitter_factor)
        self.retry_condition_fn = given.retry_condition_fn
        self.timeout_seconds = check.check_timeout(given.timeout_seconds)
        self.cache_expiration = check.check_expiration(given.cache_expiration)
        self.refresh_cache = given.refresh_cache
        self.task_run_name = given.task_run_name
        self.log_prints = given.log_prints
        self.on_completion = check.check_hooks("on_completion", given.on_completion)
        self.on_failure = check.check_hooks("on_failure", given.on_failure)
        check_serializer(given.result_serializer)
        self.result_options = ResultOptions(
            given.persist_result,
            given.result_storage,
            given.result_serializer,
            check_storage_key(given.result_storage_key),
            bool(given.cache_result_in_memory),
        )
        self.cache_policy, self.cache_key_fn = given.cache_policy, given.cache_key_fn
        self.active_cache_policy = _cache_policy(
            given.cache_policy, given.cache_key_fn, self.result_options
        )
        self.persists = self.result_options.persists(self.active_cache_policy is not None)
        if self.active_cache_policy is not None and not self.persists:
            self.active_cache_policy = None  # persist_result=False: nothing to reuse
        self.is_async = inspect.iscoroutinefunction(fn)
        module = getattr(fn, "__module__", None) or "__main__"
        self.task_key = f"{module}.{getattr(fn, '__qualname__', self.name)}"
        self.needs_parameters = (
            self.active_cache_policy is not None
            or given.task_run_name is not None
            or given.result_storage_key is not None
        )
        update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"Task(name={self.name!r})"

    @cached_property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.fn)

    def may_retry(self, attempt: int, failed: Callable[[], tuple[Any, State]]) -> bool:
        """Whether the failure of attempt ``attempt`` (from 1) is retried: within ``retries``,
        and as ``retry_condition_fn`` says of the failed task run and state, which
        ``failed()`` gives, asked only for it. The engine and task workers both ask this."""
        if attempt > self.retries:
            return False
        if self.retry_condition_fn is None:
            return True
        task_run, state = failed()
        return bool(self.retry_condition_fn(self, task_run, state))

    def wait_before_retry(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (from 1): its delay, with the task's
        jitter. The engine and task workers both wait this long."""
        delay = self.retry_delays[retry - 1]
        if not self.retry_jitter_factor:
            return delay
        import random

        from runplane._retries import with_jitter

        return with_jitter(delay, self.retry_jitter_factor, random.Random())

    def source_hash(self) -> str:
        cached: str | None = self.__dict__.get("_source_hash")
        if cached is None:
            from runplane._runtime.cache import task_source_hash

            cached = self.__dict__["_source_hash"] = task_source_hash(self.fn)
        return cached

    @method_takes_options_of(TaskOptions)
    def with_options(self, **changes: Any) -> Task[P, R]:
        """A copy of the task with some options changed."""
        unknown = set(changes) - _TASK_OPTION_NAMES
        if unknown:
            raise TypeError(f"unknown task options: {', '.join(sorted(unknown))}")
        return Task(self.fn, dataclasses.replace(self.options, **changes))

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._call(args, kwargs, return_state=False)  # type: ignore[no-any-return]

    def call_with_state(self, *args: P.args, **kwargs: P.kwargs) -> State:
        """Runs the task inline and returns its final state instead of its value."""
        state: State = self._call(args, kwargs, return_state=True)
        return state

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool) -> Any:
        return_state = kwargs.pop("return_state", return_state)
        context = flow_run_context.get()
        if context is None or context.engine is None:
            from runplane._task_workers import standalone

            if self.is_async:
                return standalone.call_standalone_async(self, args, kwargs, return_state)
            return standalone.call_standalone(self, args, kwargs, return_state)
        from runplane._engine import task_calls

        if self.is_async:
            return task_calls.call_task_async(self, context.engine, args, kwargs, return_state)
        return task_calls.call_task(self, context.engine, args, kwargs, return_state)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> BackgroundTaskFuture[R]:
        """Records a background run of the task for a task worker to execute, and returns at
        once; ``.result()`` on the returned future waits for the worker's outcome."""
        from runplane._task_workers.delay import delay

        return delay(self, args, kwargs)

    def apply_async(
        self, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> BackgroundTaskFuture[R]:
        """``delay`` with the arguments given as a tuple and a dict."""
        from runplane._task_workers.delay import delay

        return delay(self, tuple(args), dict(kwargs or {}))

    def submit(self, *args: Any, **kwargs: Any) -> RunplaneFuture[Any]:
        """Starts a run on the flow's task runner; ``wait_for=[futures]`` orders it after them."""
        from runplane._engine import task_calls

        wait_for = kwargs.pop("wait_for", None)
        return task_calls.submit_task(self, _engine(self, "submit"), args, kwargs, wait_for)

    def map(self, *args: Any, **kwargs: Any) -> RunplaneFutureList[Any]:
        """One submitted run per item of the iterable arguments (``unmapped(x)`` stays whole;
        a future is waited for and its result mapped over)."""
        from runplane._engine import task_calls

        wait_for = kwargs.pop("wait_for", None)
        return task_calls.map_task(self, _engine(self, "map"), args, kwargs, wait_for)


def _engine(task: Task[Any, Any], method: str) -> Any:
    context = flow_run_context.get()
    if context is None or context.engine is None:
        raise RuntimeError(f"{task.name}.{method}() can only be used inside a flow run")
    return context.engine


def _cache_policy(
    policy: CachePolicy | None, key_fn: CacheKeyFn | None, results: ResultOptions
) -> CachePolicy | None:
    """The policy in force: explicit, from a key function, or the default one when persisting."""
    from runplane._runtime import cache as _cache

    if policy is not None and key_fn is not None:
        raise ValueError("give either cache_policy or cache_key_fn, not both")
    if key_fn is not None:
        return _cache.policy_from_key_fn(key_fn)
    if policy is not None:
        return None if policy is _cache.NO_CACHE else policy
    return _cache.DEFAULT if results.persist_result else None


@overload
def task(__fn: Callable[P, Coroutine[Any, Any, T]], /) -> Task[P, Coroutine[Any, Any, T]]: ...
@overload
def task(__fn: Callable[P, T], /) -> Task[P, T]: ...
@overload
@takes_options_of(TaskOptions)
def task(**options: Any) -> TaskOptions: ...
def task(__fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Makes a function a task, with or without options: ``@task`` or ``@task(retries=2)``."""
    given = TaskOptions(**options)
    return given if __fn is None else given(__fn)
