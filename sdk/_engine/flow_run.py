"""One flow run's engine state: its record, its proposals to the server, its task runs."""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runplane._client.models import FlowRun, OrchestrationStatus
from runplane._client.states import State, StateType
from runplane._engine.errors import LeaseLost, RunAborted
from runplane._engine.heartbeats import WatchedRun, heartbeats
from runplane._engine.reporter import TaskReporter
from runplane._engine.results import ResultStores

if TYPE_CHECKING:
    from runplane._engine.client import EngineClient
    from runplane._flows import Flow
    from runplane._futures import RunplaneFuture
    from runplane._task_runners import TaskRunner

logger = logging.getLogger("runplane.engine")

# The states in which the run's code runs in this process, and the server expects heartbeats.
_HELD = frozenset({StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING})


def _about_lease(reason: str) -> bool:
    """Whether an ABORT says the run is not held under the lease this process presented:
    stale, foreign, expired or missing (the server names the lease in each such reason)."""
    return "lease" in reason.lower()


class FlowRunEngine:
    """What a running flow run's code and its task runs share."""

    def __init__(
        self,
        flow: Flow[Any, Any],
        client: EngineClient,
        flow_run: FlowRun,
        *,
        report_sequence: int = 0,
        lease_id: uuid.UUID | None = None,
        on_cancel: Callable[[], bool] | None = None,
    ) -> None:
        self.flow = flow
        self.client = client
        self.flow_run = flow_run
        self.flow_run_id = flow_run.id
        self.lease_id = lease_id
        self.state: State | None = flow_run.state
        self.reporter = TaskReporter(client, flow_run.id, report_sequence)
        self.results = ResultStores()
        self.logs = client.log_shipper()
        self._keys: dict[str, itertools.count[int]] = {}
        self._runner: TaskRunner | None = None
        self._futures: list[RunplaneFuture[Any]] = []
        self._lock = threading.Lock()
        # suspend_flow_run calls in this attempt, and how many of them were resumed before.
        self.suspend_calls = 0
        self.resumed_suspensions: int | None = None
        # A leased run is its runner's to heartbeat; this process heartbeats every other.
        self._heartbeat: WatchedRun | None = None
        if lease_id is None:
            self._heartbeat = WatchedRun(flow_run.id, client, on_cancel)
            self._follow(self.state)

    def next_dynamic_key(self, task_key: str) -> str:
        counter = self._keys.get(task_key)
        if counter is None:
            counter = self._keys.setdefault(task_key, itertools.count())
        return str(next(counter))

    def task_runner(self) -> TaskRunner:
        if self._runner is None:
            with self._lock:
                if self._runner is None:
                    runner = self.flow.task_runner.duplicate()
                    runner.start()
                    self._runner = runner
        return self._runner

    def track(self, future: RunplaneFuture[Any]) -> None:
        self._futures.append(future)

    def finish_tasks(self) -> None:
        """Waits for every submitted task run, stops the runner, then reports everything."""
        runner, self._runner = self._runner, None
        try:
            for future in list(self._futures):
                future.wait()
        finally:
            if runner is not None:
                runner.shutdown()
            self.reporter.flush()

    def propose(self, state: State, *, force: bool = False) -> State:
        """Proposes ``state`` until the server decides; returns the run's state after it.

        Obeys WAIT by sleeping the given delay; raises ``LeaseLost`` on an ABORT about this
        process's lease, and ``RunAborted`` on any other ABORT.
        """
        transition_id = uuid.uuid4()
        if self.lease_id is not None and state.details.lease_id is None:
            details = state.details.model_copy(update={"lease_id": self.lease_id})
            state = state.model_copy(update={"details": details})
        while True:
            # A run from the work stream is fenced by its lease until the attempt ends: every
            # proposal presents it, forced ones included.
            answer = self.client.set_flow_run_state(
                self.flow_run_id,
                state,
                force=force,
                transition_id=transition_id,
                lease_id=self.lease_id,
            )
            if answer.status is OrchestrationStatus.WAIT:
                time.sleep(max(answer.wait_seconds, 0.01))
                transition_id = uuid.uuid4()
                continue
            if answer.status is OrchestrationStatus.ABORT:
                if self.lease_id is not None and _about_lease(answer.reason):
                    raise LeaseLost(f"flow run {self.flow_run_id}: {answer.reason}")
                raise RunAborted(
                    f"flow run {self.flow_run_id} cannot move to {state.name}: {answer.reason}"
                )
            if answer.state is not None:
                self.state = answer.state
                self._follow(answer.state)
            return self.state or state

    def _follow(self, state: State | None) -> None:
        """Heartbeats the run while the server holds it running in this process."""
        if self._heartbeat is None:
            return
        if state is not None and state.type in _HELD:
            heartbeats().watch(self._heartbeat)
        else:
            heartbeats().unwatch(self._heartbeat)

    def crash(self, error: BaseException) -> State | None:
        """Reports CRASHED (forced) after saving what the task runs recorded; never raises."""
        from runplane._engine.states import make_state

        try:
            self.reporter.flush(timeout=5.0)
        except Exception as flush_error:
            logger.error("task run updates were lost while crashing: %s", flush_error)
        from runplane._engine.failures import describe, log_failure

        try:
            if self._cancel_intended(error):
                cancelled = make_state(StateType.CANCELLED, message="cancelled while running")
                return self.propose(cancelled, force=True)
            log_failure(error, self.flow_run_id, headline="Crashed")
            message = f"the flow run crashed: {describe(error)}"
            return self.propose(make_state(StateType.CRASHED, message=message), force=True)
        except Exception as report_error:
            logger.error("could not report flow run %s crashed: %s", self.flow_run_id, report_error)
            return None
        finally:
            self.close()

    def _cancel_intended(self, error: BaseException) -> bool:
        """A SIGTERM that arrives while the run is CANCELLING is its cancellation."""
        from runplane._engine.errors import TerminationSignal

        if not isinstance(error, TerminationSignal):
            return False
        try:
            current = self.client.get_flow_run(self.flow_run_id).state
        except Exception:
            return False
        return current is not None and current.type is StateType.CANCELLING

    def abandon(self) -> None:
        """The run is another's now: stops heartbeating it and drops unsent task reports."""
        self._follow(None)
        self.reporter.discard()

    def close(self) -> None:
        self._follow(None)
        try:
            self.reporter.close(timeout=5.0)
        except Exception as error:
            logger.error("%s", error)
        self.logs.flush(5.0)
