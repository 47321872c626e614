"""One task run's transitions, decided on the client and handed to the reporter.

``TaskRun`` holds the decisions (cache, retry, outcome); ``task_calls`` drives it around
the user's function, synchronously or asynchronously.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runplane._client.states import ResultRef, State, StateType
from runplane._engine.errors import TimedOut, UpstreamFailed
from runplane._engine.failures import describe as _describe
from runplane._engine.failures import log_failure
from runplane._engine.hooks import run_hooks
from runplane._engine.names import render_name
from runplane._engine.outcome import Outcome
from runplane._engine.parameters import (
    allowed_to_fail,
    bind,
    find_futures,
    replace_futures,
    upstream_inputs,
)
from runplane._engine.reporter import TaskRunCreate, Transition
from runplane._engine.results import NOT_IN_MEMORY
from runplane._engine.returned_states import returned_state, state_value
from runplane._engine.storage_keys import ResultStorageKeyError
from runplane._runtime.context import TaskRunContext, current_tags, task_run_context

logger = logging.getLogger("runplane.engine")

if TYPE_CHECKING:
    from contextvars import Token

    from runplane._client.models import TaskRun as TaskRunModel
    from runplane._engine.flow_run import FlowRunEngine
    from runplane._engine.task_slots import TagSlots
    from runplane._futures import RunplaneFuture
    from runplane._tasks import Task

_PENDING, _RUNNING, _SCHEDULED = StateType.PENDING, StateType.RUNNING, StateType.SCHEDULED
_COMPLETED, _FAILED, _CRASHED = StateType.COMPLETED, StateType.FAILED, StateType.CRASHED


class TaskRun:
    """Orchestrates one run of a task inside a flow run."""

    __slots__ = (
        "_create",
        "_lease",
        "args",
        "cache_key",
        "engine",
        "future",
        "id",
        "kwargs",
        "name",
        "parameters",
        "run_count",
        "tags",
        "task",
        "tolerated",
        "upstream",
    )

    def __init__(
        self,
        task: Task[Any, Any],
        engine: FlowRunEngine,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        wait_for: list[Any] | None = None,
        parameters: dict[str, Any] | None = None,
        submitted: bool = False,
    ) -> None:
        self.task, self.engine, self.args, self.kwargs = task, engine, args, kwargs
        dynamic_key = engine.next_dynamic_key(task.task_key)
        # Derived from the run and key, so a rerun of the flow run in another process
        # records new states on the same task run instead of colliding with it.
        self.id = uuid.uuid5(engine.flow_run_id, f"{task.task_key}\x00{dynamic_key}")
        self.run_count = 0
        self.cache_key: str | None = None
        self.future: RunplaneFuture[Any] | None = None
        upstream = find_futures(args) + find_futures(kwargs) if args or kwargs else []
        if parameters is None and (upstream or task.needs_parameters):
            parameters = bind(task.signature, args, kwargs)
        self.parameters = parameters
        waits = find_futures(wait_for) if wait_for else []
        self.upstream = upstream + waits
        # Upstream runs wrapped in allow_failure: waited for, but their failure is no stop.
        self.tolerated = allowed_to_fail((args, kwargs, wait_for)) if self.upstream else frozenset()
        self.name = render_name(task.task_run_name, parameters or {}, "task") or (
            f"{task.name}-{dynamic_key}"
        )
        extra_tags = current_tags()
        tags = task.tags if not extra_tags else tuple(dict.fromkeys((*task.tags, *extra_tags)))
        self.tags = tags
        self._lease: tuple[TagSlots, uuid.UUID] | None = None
        inputs = upstream_inputs(parameters) if upstream and parameters else {}
        if waits:
            inputs["wait_for"] = tuple(future.task_run_id for future in waits)
        create = TaskRunCreate(
            task.task_key,
            dynamic_key,
            self.name,
            tags,
            task.version,
            task.retries,
            inputs,
            task.retry_delays,
        )
        self._create: TaskRunCreate | None = create
        if submitted:
            self._record(Transition(_PENDING, "Pending", time.time()))

    def _record(self, change: Transition) -> None:
        """Hands a transition to the reporter; the first one also creates the task run.

        A direct call is never waiting, so its first state is Running (or Cached, or
        NotReady); a submitted run starts Pending until a worker picks it up.
        """
        create, self._create = self._create, None
        self.engine.reporter.record(self.id, change, create)

    # -- tag concurrency slots (see task_slots) --------------------------------------------

    def hold_slots(self, slots: TagSlots, lease_id: uuid.UUID) -> None:
        self._lease = (slots, lease_id)

    def release_slots(self) -> None:
        """Gives the attempt's slots back, if it holds any; cheap, and safe to repeat."""
        held, self._lease = self._lease, None
        if held is not None:
            held[0].release(held[1])

    def awaiting_slot(self, names: list[str], delay: float) -> None:
        now = time.time()
        message = f"waiting for a free slot of {', '.join(names)}"
        change = Transition(
            _SCHEDULED, "AwaitingConcurrencySlot", now, message, scheduled_time=now + delay
        )
        self._record(change)

    def refused(self, error: Exception) -> Outcome:
        """The end of a run that cannot get its slots; no retry, waiting would not help."""
        return self._final_failure(error, "it could not take a concurrency slot:")

    # -- before the first attempt -------------------------------------------------------

    def not_ready(self) -> Outcome | None:
        """Waits for upstream futures; an outcome when one of them did not complete."""
        for future in self.upstream:
            outcome = future.outcome()
            if not outcome.completed and future not in self.tolerated:
                message = f"upstream task run {outcome.task_run_id} ended {outcome.name}"
                change = Transition(
                    _PENDING,
                    "NotReady",
                    time.time(),
                    message,
                    upstream_task_run_id=outcome.task_run_id,
                )
                self._record(change)
                error = UpstreamFailed(f"task run {self.name!r} did not start: {message}")
                return Outcome(self.id, _PENDING, "NotReady", error=error, message=message)
        if self.upstream:
            self.args = replace_futures(self.args)
            self.kwargs = replace_futures(self.kwargs)
            if self.parameters is not None:
                self.parameters = replace_futures(self.parameters)
        return None

    def cached(self) -> Outcome | None:
        """The stored outcome of an earlier run with the same cache key, if any."""
        task = self.task
        policy = task.active_cache_policy
        if policy is None:
            return None
        from runplane._runtime.cache import CacheKeyContext

        context = CacheKeyContext(
            task.task_key,
            task.source_hash(),
            self.engine.flow_run_id,
            self.id,
            self.engine.flow_run.parameters,
        )
        self.cache_key = policy.compute_key(context, self.parameters or {})
        if self.cache_key is None or task.refresh_cache:
            return None
        found = self._lookup(self.cache_key)
        if found is None:
            return None
        ref, value, expiration = found
        change = Transition(
            _COMPLETED,
            "Cached",
            time.time(),
            result=ref,
            cache_key=self.cache_key,
            cache_expiration=expiration,
        )
        self._record(change)
        in_memory = task.result_options.in_memory
        return Outcome(self.id, _COMPLETED, "Cached", value=value, result=ref, in_memory=in_memory)

    def _lookup(self, key: str) -> tuple[ResultRef | None, Any, datetime | None] | None:
        from runplane._runtime.results import MissingResult, SerializationError, UntrustedResult

        local = self.engine.client.cached_results.get(key)
        # A result this process wrote but did not keep is read back only if this task keeps
        # values in memory; otherwise its outcome holds the reference alone.
        if local is not None and (
            local[1] is not NOT_IN_MEMORY or not self.task.result_options.in_memory
        ):
            return local
        cached = self.engine.client.lookup_cached_state(key)
        if cached is None or cached.state.result_ref is None:
            return None
        ref = cached.state.result_ref
        try:
            value = self.engine.results.default().load(ref)
        except UntrustedResult as error:
            # Any client may record a cached state: one this process does not trust is a miss.
            logger.warning("task %s runs: its cached result was not loaded: %s", self.id, error)
            return None
        except (MissingResult, SerializationError, OSError, ValueError):
            return None
        return ref, value, cached.state.details.cache_expiration

    # -- attempts ------------------------------------------------------------------------

    def begin_attempt(self) -> Token[TaskRunContext | None]:
        self.run_count += 1
        name = "Running" if self.run_count == 1 else "Retrying"
        self._record(Transition(_RUNNING, name, time.time()))
        if self.future is not None:
            self.future.mark_running()
        return task_run_context.set(self._context())

    def _context(self) -> TaskRunContext:
        """What ``runplane.runtime.task_run`` tells of this run while its code runs."""
        return TaskRunContext(
            self.id,
            self.task.name,
            self.engine.flow_run_id,
            task=self.task,
            run_count=self.run_count,
            log_prints=bool(self.task.log_prints),
            run_name=self.name,
            parameters=self.parameters,
            call=(self.args, self.kwargs),
        )

    def storage_key(self) -> str | None:
        """The key the task's ``result_storage_key`` gives this run; None: a random one."""
        template = self.task.result_options.storage_key
        if template is None:
            return None
        from runplane._engine.storage_keys import render_storage_key

        token = task_run_context.set(self._context())
        try:
            return render_storage_key(template, self.parameters or {})
        finally:
            task_run_context.reset(token)

    def complete(self, value: Any) -> Outcome:
        if isinstance(value, State | list | tuple | set):
            returned = returned_state(value)
            if returned is not None:
                return self._returned(returned)
        return self._completed(value)

    def _completed(self, value: Any, name: str = "Completed", message: str = "") -> Outcome:
        task = self.task
        ref: ResultRef | None = None
        expiration: datetime | None = None
        if task.persists:
            from runplane._runtime.results import SerializationError, UnsafeResultKey

            try:
                store = self.engine.results.for_options(task.result_options)
                ref = store.persist(value, key=self.storage_key())
            except (SerializationError, OSError, ResultStorageKeyError, UnsafeResultKey) as error:
                return self._final_failure(error, "its result could not be persisted:")
            if task.cache_expiration is not None:
                expiration = datetime.now(UTC) + task.cache_expiration
        change = Transition(
            _COMPLETED,
            name,
            time.time(),
            message,
            result=ref,
            cache_key=self.cache_key,
            cache_expiration=expiration,
        )
        self._record(change)
        in_memory = task.result_options.in_memory
        outcome = Outcome(
            self.id,
            _COMPLETED,
            name,
            value=value,
            message=message,
            result=ref,
            in_memory=in_memory,
        )
        if self.cache_key is not None and ref is not None:
            kept = value if in_memory else NOT_IN_MEMORY
            self.engine.client.cached_results.put(self.cache_key, ref, kept, expiration)
        if task.on_completion:
            run_hooks(task.on_completion, task, self.model(outcome), outcome.state())
        return outcome

    def _returned(self, returned: State) -> Outcome:
        """The task returned a state: the run ends in it, with its message, and no retry."""
        if returned.type is _COMPLETED:
            return self._completed(state_value(returned), returned.name, returned.message)
        if not returned.is_final():
            message = f"the task returned a {returned.name} state, which is not final"
            return self._final_failure(RuntimeError(message), "it returned")
        error = returned.result(raise_on_failure=False)
        if not isinstance(error, BaseException):
            error = RuntimeError(returned.message or f"the task returned {returned.name}")
        outcome = Outcome(
            self.id, returned.type, returned.name, error=error, message=returned.message
        )
        self._persist_error(outcome, error)
        change = Transition(
            returned.type, returned.name, time.time(), returned.message, result=outcome.result
        )
        self._record(change)
        hooks = self.task.on_failure if returned.type is _FAILED else ()
        if hooks:
            run_hooks(hooks, self.task, self.model(outcome), outcome.state())
        return outcome

    def attempt_failed(self, error: Exception) -> float | None:
        """Logs the attempt's exception with its traceback on this task run; then, as
        ``retry_delay``, the seconds to wait before the next attempt, or None."""
        log_failure(error, self.engine.flow_run_id, self.id)
        return self.retry_delay(error)

    def retry_delay(self, error: Exception) -> float | None:
        """Seconds to wait before the next attempt, recorded as AwaitingRetry; None: no retry."""
        task = self.task
        if not task.may_retry(self.run_count, lambda: self._failed_view(error)):
            return None
        delay = task.wait_before_retry(self.run_count)
        now = time.time()
        message = f"retry {self.run_count} of {task.retries} after {_describe(error)}"
        change = Transition(_SCHEDULED, "AwaitingRetry", now, message, scheduled_time=now + delay)
        self._record(change)
        return delay

    def fail(self, error: Exception) -> Outcome:
        return self._final_failure(error, "it raised")

    def _failed_view(self, error: Exception) -> tuple[TaskRunModel, State]:
        """The task run and its state as they would be if ``error`` ended it."""
        failed = self._failed_outcome(error)
        return self.model(failed), failed.state()

    def _failed_outcome(self, error: BaseException, why: str = "it raised") -> Outcome:
        name = "TimedOut" if isinstance(error, TimedOut) else "Failed"
        message = f"task run {self.name!r} failed: {why} {_describe(error)}"
        return Outcome(self.id, _FAILED, name, error=error, message=message)

    def _persist_error(self, outcome: Outcome, error: BaseException) -> None:
        """Stores the exception for ``result()`` to raise, when the task persists results;
        storage that fails leaves the outcome without it rather than losing the failure."""
        if not self.task.persists:
            return
        try:
            store = self.engine.results.for_options(self.task.result_options)
            outcome.result = store.persist_exception(error)
        except OSError:
            pass

    def _final_failure(self, error: BaseException, why: str) -> Outcome:
        outcome = self._failed_outcome(error, why)
        self._persist_error(outcome, error)
        change = Transition(
            _FAILED, outcome.name, time.time(), outcome.message, result=outcome.result
        )
        self._record(change)
        if self.task.on_failure:
            run_hooks(self.task.on_failure, self.task, self.model(outcome), outcome.state())
        return outcome

    def crash(self, error: BaseException) -> None:
        log_failure(error, self.engine.flow_run_id, self.id, headline="Crashed")
        message = f"task run {self.name!r} crashed: {_describe(error)}"
        self._record(Transition(_CRASHED, "Crashed", time.time(), message))

    def model(self, outcome: Outcome) -> TaskRunModel:
        """The task run as the API model, for hooks."""
        from runplane._client.models import TaskRun as TaskRunModel

        return TaskRunModel(
            id=self.id,
            flow_run_id=self.engine.flow_run_id,
            task_key=self.task.task_key,
            name=self.name,
            state=outcome.state(),
            run_count=self.run_count,
            tags=self.tags,
            cache_key=self.cache_key,
        )
