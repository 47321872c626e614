"""The steps of one flow run around its function: start, attempts, outcome, crash.

``flow_calls`` drives these steps for synchronous and asynchronous flows alike.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runplane._client.models import FlowRun, RetryPolicy
from runplane._client.states import ResultRef, State, StateType
from runplane._engine.client import EngineClient, engine_client
from runplane._engine.console import run_began, run_ended
from runplane._engine.errors import ParameterValidationError, RunAborted, TimedOut
from runplane._engine.failures import describe as _describe
from runplane._engine.failures import log_failure
from runplane._engine.flow_run import FlowRunEngine
from runplane._engine.hooks import run_hooks
from runplane._engine.names import render_name
from runplane._engine.parameters import (
    bind,
    call_arguments,
    find_futures,
    jsonable,
    replace_futures,
)
from runplane._engine.results import NOT_IN_MEMORY
from runplane._engine.returned_states import returned_state, state_value
from runplane._engine.signals import terminate_main_thread
from runplane._engine.states import local_state, make_state, small_inline_ref
from runplane._engine.subflows import Tracking
from runplane._runtime.context import FlowRunContext, current_tags, flow_run_context

if TYPE_CHECKING:
    from runplane._flows import Flow

logger = logging.getLogger("runplane.engine")


class FlowCall:
    """One call of a flow, from binding its arguments to its final state."""

    def __init__(
        self,
        flow: Flow[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        existing: FlowRun | None = None,
        lease_id: uuid.UUID | None = None,
    ) -> None:
        self.flow = flow
        self.parameters = bind(flow.signature, args, kwargs)
        self.existing = existing
        self.lease_id = lease_id
        parent = flow_run_context.get()
        self.parent: FlowRunEngine | None = parent.engine if parent is not None else None
        self.top_level = self.parent is None
        self.engine: FlowRunEngine | None = None
        self.tracking: Tracking | None = None
        self.invalid: ParameterValidationError | None = None
        self.started_running = False
        self.interruptible = False
        """SIGTERM stops this run's code: a cancellation can stop it the same way."""
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = False

    # -- start --------------------------------------------------------------------------

    def start(self) -> bool:
        """Creates (or loads) the run and validates parameters; False when it must not run."""
        flow = self.flow
        if flow.validate_parameters:
            try:
                self.parameters = flow.validator.validate(self.parameters)
            except ParameterValidationError as error:
                self.invalid = error
        name = None if self.invalid else render_name(flow.flow_run_name, self.parameters, "flow")
        client = engine_client() if self.parent is None else self.parent.client
        # A valid top-level run is created RUNNING: one round trip instead of two.
        at_once = self.existing is None and self.parent is None and self.invalid is None
        run = self.existing or self._create(client, name, running=at_once)
        self.started_running = at_once and _is(run, StateType.RUNNING)
        fresh = self.existing is None and (self.started_running or not self._reused(run))
        sequence = 0 if fresh else _sequence(client, run)
        self.engine = FlowRunEngine(
            flow,
            client,
            run,
            report_sequence=sequence,
            lease_id=self.lease_id,
            on_cancel=terminate_main_thread if self.interruptible else None,
        )
        if self.top_level:
            run_began(self.engine)
        if self.tracking is not None and self._finished_before(run):
            return False
        if self.tracking is not None and _ended(run):
            self._retry_child(self.tracking)
        if not self.started_running and run.state is not None and not _is(run, StateType.PENDING):
            self.engine.propose(make_state(StateType.PENDING))
        if self.invalid is not None:
            failed = make_state(StateType.FAILED, message=str(self.invalid))
            self._final(self.engine.propose(failed), self.invalid)
            return False
        return True

    def _create(self, client: EngineClient, name: str | None, *, running: bool) -> FlowRun:
        flow = self.flow
        extra = current_tags()
        tags = flow.tags if not extra else tuple(dict.fromkeys((*flow.tags, *extra)))
        policy = RetryPolicy(retries=flow.retries, retry_delay_seconds=tuple(flow.retry_delays))
        parent_task_run_id = idempotency_key = None
        if self.parent is not None:
            self.tracking = Tracking(self.parent, flow)
            parent_task_run_id = self.tracking.task_run_id
            idempotency_key = self.tracking.idempotency_key
        run = client.create_flow_run(
            client.flow_id(flow.name),
            name=name,
            parameters=jsonable(self.parameters),
            tags=tags,
            retry_policy=policy if flow.retries else None,
            flow_version=flow.version,
            parent_task_run_id=parent_task_run_id,
            idempotency_key=idempotency_key,
            state=make_state(StateType.RUNNING) if running else None,
            expect_heartbeats=True,  # this process heartbeats the runs it creates
        )
        if self.tracking is not None:
            self.tracking.started(run.id)
        return run

    def _reused(self, run: FlowRun) -> bool:
        return run.state is not None and run.state.type is not StateType.PENDING

    def _finished_before(self, run: FlowRun) -> bool:
        """A subflow that already completed in an earlier run of its parent is not rerun."""
        state = run.state
        if state is None or state.type is not StateType.COMPLETED or state.result_ref is None:
            return False
        self.value = state.result()
        self.done = True
        assert self.tracking is not None
        self.tracking.finished(state)
        return True

    def _retry_child(self, tracking: Tracking) -> None:
        """A rerun of the parent runs a child that ended again: a final state is left only
        by a retry, which the child's history shows."""
        parent = tracking.parent.flow_run_id
        message = f"retried by a rerun of its parent flow run {parent}"
        self._engine().propose(make_state(StateType.SCHEDULED, "AwaitingRetry", message))

    # -- attempts -----------------------------------------------------------------------

    def begin_attempt(self) -> bool:
        """Proposes RUNNING (obeying WAIT); False when the server ended the run instead."""
        engine = self._engine()
        if self.done:
            return False
        if self.started_running:
            self.started_running = False
            state = engine.state if engine.state is not None else make_state(StateType.RUNNING)
        else:
            state = engine.propose(make_state(StateType.RUNNING))
        if state.type is StateType.RUNNING:
            engine.suspend_calls = 0  # each attempt runs the flow's code from the top
            run_hooks(self.flow.on_running, self.flow, self._model(), state)
            return True
        if state.type is StateType.CANCELLING:
            state = engine.propose(make_state(StateType.CANCELLED), force=True)
        self._final(state, RunAborted(f"the flow run is {state.name}: {state.message}"))
        return False

    def context(self) -> ExitStack:
        """Sets the run context (and print capture) around the flow's function."""
        engine = self._engine()
        stack = ExitStack()
        context = FlowRunContext(
            engine.flow_run_id,
            self.flow.name,
            flow=self.flow,
            engine=engine,
            log_prints=self.flow.log_prints,
            parameters=self.parameters,
        )
        token = flow_run_context.set(context)
        stack.callback(flow_run_context.reset, token)
        if self.flow.log_prints:
            from runplane._runtime.run_logs import capture_prints

            stack.enter_context(capture_prints())
        return stack

    def call_arguments(self) -> tuple[list[Any], dict[str, Any]]:
        return call_arguments(self.flow.signature, self.parameters)

    def succeeded(self, value: Any) -> float | None:
        """Settles a returned value; returns seconds to wait before a retry, or None."""
        engine = self._engine()
        engine.finish_tasks()
        if isinstance(value, State | list | tuple | set):
            returned = returned_state(value)
            if returned is not None:
                self._returned(returned)
                return None
        futures = find_futures(value)
        for future in futures:
            outcome = future.outcome()
            if not outcome.completed:
                return self._failed(outcome.error or RuntimeError(outcome.message))
        return self._complete(replace_futures(value) if futures else value)

    def _returned(self, returned: State) -> None:
        """The flow returned a state: the run ends in it, with its message, and no retry."""
        if returned.type is StateType.COMPLETED:
            self._complete(state_value(returned), returned.name, returned.message)
            return
        if not returned.is_final():
            message = f"the flow returned a {returned.name} state, which is not final"
            self._failed(RuntimeError(message))
            return
        error = returned.result(raise_on_failure=False)
        ref = None
        if self.flow.persists and isinstance(error, BaseException):
            store = self._engine().results.for_options(self.flow.result_options)
            ref = store.persist_exception(error)
        ended = make_state(returned.type, returned.name, returned.message, result=ref)
        self._final(self._engine().propose(ended), error)

    def failed(self, error: Exception) -> float | None:
        self._engine().finish_tasks()
        return self._failed(error)

    def _complete(self, value: Any, name: str = "", message: str = "") -> float | None:
        ref: ResultRef | None = None
        if self.flow.persists:
            from runplane._runtime.results import SerializationError

            try:
                ref = self._engine().results.for_options(self.flow.result_options).persist(value)
            except (SerializationError, OSError) as error:
                return self._failed(error, "its result could not be persisted:")
        else:
            ref = small_inline_ref(value)
        # cache_result_in_memory=False: the stored result is the only copy, read back on demand.
        kept = not self.flow.persists or self.flow.result_options.in_memory
        self.value = value if kept else NOT_IN_MEMORY
        completed = make_state(StateType.COMPLETED, name, message, result=ref)
        state = self._engine().propose(completed)
        self._final(state, None)
        return None

    def _failed(self, error: BaseException, why: str = "") -> float | None:
        ended = self._engine().state
        if ended is not None and ended.is_final():
            # The server ended the run while its code ran (a pause nobody resumed): a final
            # state is final, so the error is settled with it and nothing more is proposed.
            self._final(ended, error)
            return None
        log_failure(error, self._engine().flow_run_id)
        name = "TimedOut" if isinstance(error, TimedOut) else "Failed"
        message = " ".join(filter(None, ["the flow run failed:", why, _describe(error)]))
        ref = None
        if self.flow.persists:
            store = self._engine().results.for_options(self.flow.result_options)
            ref = store.persist_exception(error)
        proposed = make_state(StateType.FAILED, name, message, result=ref, retriable=True)
        state = self._engine().propose(proposed)
        if state.type is StateType.SCHEDULED and self.lease_id is not None:
            self._handed_back(state, error)
            return None
        if state.type is StateType.SCHEDULED:
            scheduled = state.details.scheduled_time
            wait = 0.0 if scheduled is None else (scheduled - datetime.now(UTC)).total_seconds()
            logger.info("flow run %s will retry in %.2fs", self._engine().flow_run_id, wait)
            return max(wait, 0.0)
        self._final(state, error)
        return None

    def _handed_back(self, state: State, error: BaseException) -> None:
        """The server retries a leased run as a new assignment: this attempt, and its lease,
        ended without a final state, so no hook runs and nothing more is proposed."""
        engine = self._engine()
        logger.info("flow run %s will retry as a new assignment", engine.flow_run_id)
        engine.state = state
        self.error = error
        self.done = True
        engine.close()

    def _final(self, state: State, error: BaseException | None) -> None:
        engine = self._engine()
        engine.state = state
        self.error = error if state.type is not StateType.COMPLETED else None
        self.done = True
        hooks = {
            StateType.COMPLETED: self.flow.on_completion,
            StateType.FAILED: self.flow.on_failure,
            StateType.CANCELLED: self.flow.on_cancellation,
            StateType.CRASHED: self.flow.on_crashed,
        }.get(state.type, ())
        if hooks:
            run_hooks(hooks, self.flow, self._model(), state)
        if self.tracking is not None:
            self.tracking.finished(state)
        if self.top_level:
            run_ended(engine, state)
        engine.close()

    # -- crash and outcome --------------------------------------------------------------

    def suspended(self) -> None:
        """The run suspended itself: no final state and no hooks; its runner starts it again."""
        engine = self.engine
        if engine is None or self.done:
            return
        self.done = True
        engine.close()

    def lease_lost(self) -> None:
        """The run is another's now: no final state, no hook, no crash report."""
        self.done = True
        if self.engine is not None:
            self.engine.abandon()

    def crashed(self, error: BaseException) -> None:
        engine = self.engine
        if engine is None or self.done:
            return
        state = engine.crash(error)
        self.done = True
        if state is not None:
            if self.tracking is not None:
                self.tracking.finished(state)
            if self.top_level:
                run_ended(engine, state)
            cancelled = state.type is StateType.CANCELLED
            hooks = self.flow.on_cancellation if cancelled else self.flow.on_crashed
            run_hooks(hooks, self.flow, self._model(), state)

    def outcome(self, return_state: bool) -> Any:
        engine = self._engine()
        state = engine.state
        assert state is not None
        stored = self.value is NOT_IN_MEMORY
        if return_state:
            completed = state.type is StateType.COMPLETED and not stored
            error = self.invalid or self.error
            value = None if stored else self.value
            return local_state(state, value=value, error=error, has_value=completed)
        if self.invalid is not None:
            raise self.invalid
        if state.type is StateType.COMPLETED:
            return state.result() if stored else self.value
        if self.error is not None:
            raise self.error
        raise RunAborted(state.message or f"the flow run ended {state.name}")

    def _engine(self) -> FlowRunEngine:
        assert self.engine is not None, "the flow run has not started"
        return self.engine

    def _model(self) -> FlowRun:
        engine = self._engine()
        return engine.flow_run.model_copy(update={"state": engine.state})


def _sequence(client: EngineClient, run: FlowRun) -> int:
    """The last task-run report sequence the server holds for a run started before."""
    # An empty report changes nothing and answers the position to continue from.
    return int(client.report_task_runs(run.id, []))


def _is(run: FlowRun, state_type: StateType) -> bool:
    return run.state is not None and run.state.type is state_type


def _ended(run: FlowRun) -> bool:
    return run.state is not None and run.state.is_final()
