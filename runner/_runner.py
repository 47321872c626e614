"""The runner: takes runs from the work stream and executes each in a process of its own."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import anyio
from anyio.abc import TaskGroup

from runplane._client.client import RunplaneClient
from runplane._client.errors import RunplaneError
from runplane._client.models import (
    CancelRun,
    RunAssignment,
    State,
    StateDetails,
    StateType,
    SubscriptionStarted,
    WorkItem,
)
from runplane._client.settings import Settings
from runplane.runner._fence import Fence
from runplane.runner._forks import ForkServer, ForkServerGone, open_fork_server
from runplane.runner._held import HeldRun, StopReason
from runplane.runner._lifeline import Lifeline
from runplane.runner._processes import (
    RunProcess,
    exit_message,
    interpreter_environment_differs,
    kill_process_group,
    run_environment,
    start_failure_message,
    start_run_process,
    stop_process_group,
)
from runplane.runner._subscription import TRANSIENT_ERRORS, Subscriber

logger = logging.getLogger("runplane.runner")

ShutdownMode = Literal["drain", "reschedule", "cancel"]
SHUTDOWN_MODES: tuple[ShutdownMode, ...] = ("drain", "reschedule", "cancel")
DEFAULT_HEARTBEAT_SECONDS = 5.0
# The longest the fence watch sleeps: how late it may notice a run that became overdue.
FENCE_CHECK_SECONDS = 0.25


def default_runner_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Runner:
    """Executes the runs of a work pool, at most ``limit`` at a time.

    ``await runner.run()`` keeps one work subscription open and starts each assigned run in a
    process of its own, in a new process group: a child of the fork server, which has the
    engine imported already, or ``python -m runplane.runner.execute`` when ``python`` names
    another interpreter. On SIGTERM or SIGINT (with
    ``handle_signals``) or ``stop()``, it takes no more work and then, by ``shutdown_mode``,
    waits up to ``shutdown_grace`` seconds for its runs (``drain``), gives them back to be
    run elsewhere (``reschedule``) or cancels them (``cancel``). Schedules are never paused.

    Its runs never outlive it: each run process watches the runner's lifeline and ends its
    process group when the runner is gone. And it fences itself: a run for which no heartbeat
    got through for two thirds of the server's heartbeat timeout is killed, before the server
    could hand it to another runner (see ``runplane.runner._fence``).
    """

    def __init__(
        self,
        work_pool_name: str,
        work_queue_names: Sequence[str] = (),
        *,
        limit: int = 4,
        name: str | None = None,
        settings: Settings | None = None,
        shutdown_mode: ShutdownMode = "drain",
        shutdown_grace: float = 30.0,
        cancel_grace: float = 30.0,
        handle_signals: bool = True,
        python: str | None = None,
        heartbeat_interval: float | None = None,
        on_subscribed: Callable[[SubscriptionStarted], None] | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if shutdown_mode not in SHUTDOWN_MODES:
            raise ValueError(f"shutdown_mode must be one of {', '.join(SHUTDOWN_MODES)}")
        self.work_pool_name = work_pool_name
        self.work_queue_names = tuple(work_queue_names)
        self.limit = limit
        self.name = name or default_runner_name()
        self.settings = settings or Settings()
        self.shutdown_mode: ShutdownMode = shutdown_mode
        self.shutdown_grace = shutdown_grace
        self.cancel_grace = cancel_grace
        self.handle_signals = handle_signals
        self.python = python
        # Never slower than the server asks; a shorter interval may be chosen locally.
        self.heartbeat_interval = heartbeat_interval
        self.on_subscribed = on_subscribed
        self.runs: dict[UUID, HeldRun] = {}
        self.subscribed = anyio.Event()
        self._stopping = anyio.Event()
        self._wake_heartbeat = anyio.Event()
        self._session: SubscriptionStarted | None = None
        self._client: RunplaneClient | None = None
        self._runs_group: TaskGroup | None = None
        self._forks: ForkServer | None = None
        self._lifeline: Lifeline | None = None
        self.fence = Fence()

    # --- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        """Takes no more work and shuts down by ``shutdown_mode``; call in the runner's loop."""
        self._stopping.set()

    async def run(self) -> None:
        self._lifeline = Lifeline()
        try:
            await self._run()
        finally:
            # Whatever is still running now would outlive the runner: it ends with the line.
            self._lifeline.close()
            self._lifeline = None

    async def _run(self) -> None:
        async with RunplaneClient(self.settings) as client, anyio.create_task_group() as outer:
            self._client = client
            outer.start_soon(self._heartbeats)
            outer.start_soon(self._fence_runs)
            async with self._process_starter(), anyio.create_task_group() as runs_group:
                self._runs_group = runs_group
                async with anyio.create_task_group() as front:
                    front.start_soon(self._subscribe)
                    if self.handle_signals:
                        front.start_soon(self._watch_signals)
                    await self._stopping.wait()
                    front.cancel_scope.cancel()
                await self._shut_down()
            outer.cancel_scope.cancel()

    @contextlib.asynccontextmanager
    async def _process_starter(self) -> AsyncIterator[None]:
        if self.python is not None:
            yield  # another interpreter: each run starts as a new process
            return
        async with open_fork_server(self._inherited_fds()) as forks:
            self._forks = forks
            try:
                yield
            finally:
                self._forks = None

    async def _start_process(self, env: dict[str, str]) -> RunProcess:
        if self._forks is not None and not interpreter_environment_differs(env):
            try:
                return await self._forks.start(env)
            except ForkServerGone:
                self._forks = None
        return await start_run_process(env, self.python, self._inherited_fds())

    def _inherited_fds(self) -> tuple[int, ...]:
        return () if self._lifeline is None else (self._lifeline.read_fd,)

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                logger.info("received %s: stopping", signal.Signals(signum).name)
                self.stop()
                return

    async def _shut_down(self) -> None:
        held = list(self.runs.values())
        if not held:
            return
        logger.info("shutting down with %d run(s) in flight (%s)", len(held), self.shutdown_mode)
        if self.shutdown_mode == "drain":
            with anyio.move_on_after(self.shutdown_grace):
                for run in held:
                    await run.done.wait()
            for run in list(self.runs.values()):
                run.request_stop(StopReason.SHUTDOWN)
        elif self.shutdown_mode == "reschedule":
            for run in held:
                run.request_stop(StopReason.RESCHEDULE)
        else:
            for run in held:
                await self._cancel(run, "the runner shut down")

    # --- the work stream ------------------------------------------------------------------

    def free_slots(self) -> int:
        return 0 if self._stopping.is_set() else max(0, self.limit - len(self.runs))

    async def _subscribe(self) -> None:
        subscriber = Subscriber(
            client=self._api(),
            work_pool_name=self.work_pool_name,
            work_queue_names=self.work_queue_names,
            runner_name=self.name,
            free_slots=self.free_slots,
            held_lease_ids=lambda: [run.assignment.lease_id for run in self.runs.values()],
        )
        await subscriber.run(self._on_item)

    async def _on_item(self, item: WorkItem) -> None:
        if isinstance(item, SubscriptionStarted):
            self._session = item
            timeout = item.heartbeat_timeout.total_seconds()
            self.fence.heartbeat_timeout = timeout if timeout > 0 else None
            self.subscribed.set()
            self._wake_heartbeat.set()
            if self.on_subscribed is not None:
                self.on_subscribed(item)
        elif isinstance(item, RunAssignment):
            self._on_assignment(item)
        elif isinstance(item, CancelRun):
            held = self.runs.get(item.flow_run_id)
            if held is not None:
                logger.info("cancelling flow run %s: %s", item.flow_run_id, item.reason)
                held.request_stop(StopReason.CANCEL)

    def _on_assignment(self, assignment: RunAssignment) -> None:
        run_id = assignment.flow_run.id
        if run_id in self.runs:
            return  # a repeated push of a run already in hand
        group = self._groups()
        if self._stopping.is_set():
            group.start_soon(self._release, assignment, "the runner is shutting down")
            return
        # No check against the limit here: the server counts this runner's slots itself, and
        # a run holds one until its final state is written, though its process may still be
        # on its way out (flushing logs, running hooks) and in self.runs.
        held = self.runs[run_id] = HeldRun(assignment)
        self.fence.received(run_id)
        group.start_soon(self._execute, held)

    # --- one run --------------------------------------------------------------------------

    async def _execute(self, held: HeldRun) -> None:
        assignment = held.assignment
        try:
            if held.stop_reason is None:
                try:
                    env = run_environment(assignment, self._api_environment())
                    held.process = await self._start_process(env)
                except OSError as error:
                    await self._report(held, StateType.CRASHED, start_failure_message(error))
                    return
                code = await self._wait(held)
            else:
                code = None
            await self._settle(held, code)
        finally:
            self.runs.pop(assignment.flow_run.id, None)
            self.fence.forget(assignment.flow_run.id)
            held.done.set()
            self._wake_heartbeat.set()

    async def _wait(self, held: HeldRun) -> int:
        process = held.process
        assert process is not None
        async with anyio.create_task_group() as group:

            async def stop_when_asked() -> None:
                await held.stop_requested.wait()
                if held.stop_reason is StopReason.FINISHED:
                    # It reported its final state and is exiting: flushing logs, running hooks.
                    with anyio.move_on_after(self.cancel_grace):
                        await process.wait()
                if held.stop_reason is StopReason.FENCED:
                    await kill_process_group(process)
                    return
                silent = held.stop_reason in (StopReason.FORGET, StopReason.FINISHED)
                await stop_process_group(process, 0.0 if silent else self.cancel_grace)

            group.start_soon(stop_when_asked)
            code = await process.wait()
            group.cancel_scope.cancel()
        return code

    async def _settle(self, held: HeldRun, code: int | None) -> None:
        """Reports what the process could not: CANCELLED, SCHEDULED again, or CRASHED."""
        reason = held.stop_reason
        if reason in (StopReason.FORGET, StopReason.FINISHED):
            return
        try:
            run = await self._api().get_flow_run(held.assignment.flow_run.id)
        except RunplaneError as error:
            logger.error("cannot read flow run %s: %s", held.assignment.flow_run.id, error)
            return
        if not held.still_ours(run):
            return
        assert run.state is not None
        if reason is StopReason.CANCEL:
            if run.state.type is not StateType.CANCELLED:
                await self._report(held, StateType.CANCELLED, "cancelled by the runner")
        elif reason is StopReason.RESCHEDULE:
            await self._give_back(held, run.state.type)
        elif run.state.type not in (StateType.COMPLETED, StateType.FAILED):
            message = "could not start" if code is None else exit_message(code)
            if reason is StopReason.SHUTDOWN:
                message = f"the runner shut down: {message}"
            elif reason is StopReason.FENCED:
                message = f"the runner could not heartbeat it for {self.fence.bound:g} s: {message}"
            await self._report(held, StateType.CRASHED, message)

    async def _give_back(self, held: HeldRun, current: StateType) -> None:
        if current is StateType.PENDING:
            await self._release(held.assignment, "the runner shut down")
            return
        now = datetime.now(UTC)
        await self._report(
            held,
            StateType.SCHEDULED,
            "the runner shut down; rescheduled for another runner",
            details=StateDetails(scheduled_time=now),
            name="Rescheduled",
        )

    async def _cancel(self, held: HeldRun, why: str) -> None:
        """Asks the server to cancel first, so that the run's engine sees the intent and runs
        its on_cancellation hooks; then stops the process."""
        try:
            await self._api().set_flow_run_state(
                held.assignment.flow_run.id,
                State(type=StateType.CANCELLING, message=why),
                lease_id=held.assignment.lease_id,
            )
        except RunplaneError as error:
            logger.warning("could not mark flow run %s cancelling: %s", held.flow_run_id, error)
        held.request_stop(StopReason.CANCEL)

    # --- reports --------------------------------------------------------------------------

    async def _report(
        self,
        held: HeldRun,
        state_type: StateType,
        message: str,
        *,
        details: StateDetails | None = None,
        name: str = "",
    ) -> None:
        state = State(
            type=state_type, name=name, message=message, details=details or StateDetails()
        )
        run_id = held.assignment.flow_run.id
        for attempt in range(3):
            try:
                await self._api().set_flow_run_state(
                    run_id, state, force=True, lease_id=held.assignment.lease_id
                )
                logger.info("flow run %s: %s (%s)", run_id, state_type.value, message)
                return
            except TRANSIENT_ERRORS as error:
                logger.warning("reporting flow run %s failed: %s", run_id, error)
                await anyio.sleep(0.5 * 2**attempt)
            except RunplaneError as error:
                logger.error("reporting flow run %s failed: %s", run_id, error)
                return

    async def _release(self, assignment: RunAssignment, reason: str) -> None:
        try:
            await self._api().release_assignment(
                assignment.flow_run.id, assignment.lease_id, reason=reason
            )
        except RunplaneError as error:
            # The lease expires on its own and the run returns to SCHEDULED anyway.
            logger.warning("could not give back flow run %s: %s", assignment.flow_run.id, error)

    # --- heartbeats -----------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        while True:
            session = self._session
            interval = DEFAULT_HEARTBEAT_SECONDS
            if session is not None and session.heartbeat_interval.total_seconds() > 0:
                interval = session.heartbeat_interval.total_seconds()
            if self.heartbeat_interval is not None:
                interval = min(interval, self.heartbeat_interval)
            with anyio.move_on_after(interval):
                await self._wake_heartbeat.wait()
            self._wake_heartbeat = anyio.Event()
            await self._heartbeat_once()

    async def _heartbeat_once(self) -> None:
        # The last session's ids serve between subscriptions and while shutting down too:
        # the runs need their heartbeats whatever happens to the stream.
        session = self._session
        if session is None:
            return
        run_ids = list(self.runs)
        sent_at = self.fence.now()
        try:
            result = await self._api().heartbeat(
                session.runner_id, session.session_id, run_ids, free_slots=self.free_slots()
            )
        except TRANSIENT_ERRORS as error:
            logger.warning("heartbeat failed: %s", error)
            return
        self.fence.acknowledged(run_ids, sent_at)
        for run_id in result.cancel_flow_run_ids:
            if run_id in self.runs:
                self.runs[run_id].request_stop(StopReason.CANCEL)
        for run_id in result.unknown_flow_run_ids:
            if run_id in self.runs:
                self.runs[run_id].request_stop(StopReason.FORGET)
        for run_id in result.finished_flow_run_ids:
            if run_id in self.runs:
                self.runs[run_id].request_stop(StopReason.FINISHED)

    async def _fence_runs(self) -> None:
        """Kills the runs the server may soon hand to another runner, as their heartbeats have
        not got through; a task of its own, so that a hanging heartbeat call cannot delay it."""
        while True:
            for run_id in self.fence.overdue():
                held = self.runs.get(run_id)
                self.fence.forget(run_id)
                if held is not None and held.request_stop(StopReason.FENCED):
                    logger.error(
                        "no heartbeat for flow run %s got through for %g s: killing it before "
                        "the server gives it to another runner",
                        run_id,
                        self.fence.bound,
                    )
            deadline = self.fence.next_deadline()
            delay = FENCE_CHECK_SECONDS
            if deadline is not None:
                delay = min(delay, max(0.0, deadline - self.fence.now()))
            await anyio.sleep(delay)

    # --- plumbing -------------------------------------------------------------------------

    def _api(self) -> RunplaneClient:
        assert self._client is not None, "the runner is not running"
        return self._client

    def _groups(self) -> TaskGroup:
        assert self._runs_group is not None, "the runner is not running"
        return self._runs_group

    def _api_environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if self.settings.api_url:
            env["RUNPLANE_API_URL"] = self.settings.api_url
        if self.settings.api_key is not None:
            env["RUNPLANE_API_KEY"] = self.settings.api_key.get_secret_value()
        tls_files = {
            "RUNPLANE_TLS_CA_FILE": self.settings.tls_ca_file,
            "RUNPLANE_TLS_CERT_FILE": self.settings.tls_cert_file,
            "RUNPLANE_TLS_KEY_FILE": self.settings.tls_key_file,
        }
        env.update({name: str(path) for name, path in tls_files.items() if path is not None})
        env["RUNPLANE_HOME"] = str(self.settings.home)
        env["RUNPLANE_RUNNER_NAME"] = self.name
        if self._lifeline is not None:
            env.update(self._lifeline.environment())
        return env
