"""The task worker: takes the background runs of its tasks from the server's stream and runs
them, at most ``limit`` at once, each under the lease it was handed.

Every state it proposes presents that lease, so a worker that lost a run (its heartbeats
stopped reaching the server for the heartbeat timeout, and the run went to another worker)
can no longer move it: its late proposals are refused and its result is not recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from typing import Any

from runplane._client.client import RunplaneClient
from runplane._client.models import Reconnect, TaskRunAssignment, TaskWorkerStarted
from runplane._client.settings import Settings
from runplane._client.states import OrchestrationStatus, StateType
from runplane._engine.failures import describe
from runplane._engine.hooks import run_hooks
from runplane._engine.states import make_state
from runplane._task_workers.arguments import decode_arguments
from runplane._task_workers.outcome import OwnRun, call_async, call_blocking, final_state
from runplane._tasks import Task

logger = logging.getLogger("runplane.task_workers")


def default_worker_name() -> str:
    """Unique per process: the server counts a worker's slots by its name."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class TaskWorker:
    """Serves background runs of ``tasks``; ``await run()`` until cancelled."""

    def __init__(
        self,
        tasks: Iterable[Task[Any, Any]],
        *,
        limit: int = 10,
        name: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.tasks = {task.task_key: task for task in tasks}
        if not self.tasks:
            raise ValueError("a task worker needs at least one task to serve")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.limit = limit
        self.name = name or default_worker_name()
        self.worker_id: uuid.UUID | None = None
        self.subscribed = asyncio.Event()
        """Set once the server acknowledged the subscription (for callers that must know)."""
        self._settings = settings
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._cancelled: set[uuid.UUID] = set()
        self._heartbeat_seconds = 5.0
        self._heartbeat_timeout = 90.0
        self._executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="runplane-task")

    async def run(self) -> None:
        from runplane.runner._subscription import TRANSIENT_ERRORS, Backoff

        backoff = Backoff()
        async with RunplaneClient(self._settings) as client:
            heartbeats = asyncio.create_task(self._heartbeat(client))
            try:
                while True:
                    try:
                        await self._subscribe(client, backoff)
                    except TRANSIENT_ERRORS as error:
                        delay = backoff.next_delay()
                        logger.warning("task stream lost (%s); again in %.1f s", error, delay)
                        await asyncio.sleep(delay)
            finally:
                heartbeats.cancel()
                for running in list(self._running.values()):
                    running.cancel()
                self._executor.shutdown(wait=False, cancel_futures=True)

    async def _subscribe(self, client: RunplaneClient, backoff: Any) -> None:
        stream = client.subscribe_task_runs(
            self.tasks, worker_name=self.name, free_slots=self.limit
        )
        async with aclosing(stream):
            async for item in stream:
                if isinstance(item, TaskWorkerStarted):
                    backoff.reset()
                    self.worker_id = item.worker_id
                    self._heartbeat_seconds = item.heartbeat_interval.total_seconds() or 5.0
                    self._heartbeat_timeout = item.heartbeat_timeout.total_seconds() or 90.0
                    self.subscribed.set()
                    logger.info("serving %s as %s", ", ".join(self.tasks), self.name)
                elif isinstance(item, TaskRunAssignment):
                    run_id = item.task_run.id
                    self._running[run_id] = asyncio.create_task(self._execute(client, item))
                elif isinstance(item, Reconnect):
                    return

    async def _execute(self, client: RunplaneClient, assignment: TaskRunAssignment) -> None:
        run, lease = assignment.task_run, assignment.lease_id
        try:
            task = self.tasks[run.task_key]
            started = await client.set_task_run_state(
                run.id, make_state(StateType.RUNNING), lease_id=lease
            )
            if started.status is not OrchestrationStatus.ACCEPT:
                logger.warning("task run %s was not started: %s", run.id, started.reason)
                return
            loop = asyncio.get_running_loop()

            async def on_thread(fn: Any, *args: Any) -> Any:
                return await loop.run_in_executor(self._executor, fn, *args)

            failure: BaseException | None
            try:
                parameters = decode_arguments(run.parameters)
            except Exception as error:
                value, failure = None, error
            else:
                own = OwnRun(task, run.id, run.name, parameters)
                if task.is_async:
                    value, failure = await call_async(own)
                else:
                    value, failure = await on_thread(call_blocking, own)
            state = await on_thread(final_state, task, value, failure)
            result = await client.set_task_run_state(run.id, state, lease_id=lease)
            if result.status is OrchestrationStatus.ABORT:
                # The lease was lost: another worker has the run, and this outcome is not kept.
                logger.warning("task run %s outcome refused: %s", run.id, result.reason)
            elif result.status is OrchestrationStatus.ACCEPT and result.state is not None:
                final = result.state
                hooks = task.on_completion if final.is_completed() else task.on_failure
                if hooks and (final.is_completed() or final.is_failed()):
                    # As the engine calls them: after the state is recorded, never changing it.
                    ended = run.model_copy(update={"state": final})
                    await on_thread(run_hooks, hooks, task, ended, final)
        except asyncio.CancelledError:
            if run.id not in self._cancelled:
                raise
            # Someone cancelled the run: it ends here (a sync task's thread runs on, unheard).
            cancelled = make_state(StateType.CANCELLED, message="cancelled while running")
            await client.set_task_run_state(run.id, cancelled, lease_id=lease)
        except Exception as error:
            logger.error("task run %s could not be run: %s", run.id, describe(error))
        finally:
            self._running.pop(run.id, None)
            self._cancelled.discard(run.id)

    async def _heartbeat(self, client: RunplaneClient) -> None:
        loop = asyncio.get_running_loop()
        await self.subscribed.wait()  # the server says how often
        last_ok = loop.time()
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            if self.worker_id is None or not self._running:
                last_ok = loop.time()
                continue
            try:
                answer = await client.heartbeat_task_runs(self.worker_id, list(self._running))
            except Exception as error:
                logger.warning("task worker heartbeat failed: %s", describe(error))
                if loop.time() - last_ok > self._heartbeat_timeout * 2 / 3:
                    # The server may hand these runs to another worker soon: stop them first
                    # (async ones stop; a sync one runs on, and its outcome is refused).
                    for held in list(self._running.values()):
                        held.cancel()
                continue
            last_ok = loop.time()
            for cancelled in answer.cancel_task_run_ids:
                task = self._running.get(cancelled)
                if task is not None and cancelled not in self._cancelled:
                    logger.info("task run %s was cancelled: stopping", cancelled)
                    self._cancelled.add(cancelled)
                    task.cancel()
            for lost in answer.unknown_task_run_ids:
                task = self._running.get(lost)
                if task is not None:
                    # An async task stops here; a sync one runs on, but its outcome is refused.
                    logger.warning("task run %s was handed to another worker: stopping", lost)
                    task.cancel()


def serve_tasks(*tasks: Task[Any, Any], limit: int = 10) -> None:
    """Runs a task worker for ``tasks`` until interrupted: each ``task.delay(...)`` anywhere
    is pushed to it (or to another worker serving the task) the moment it is recorded."""
    worker = TaskWorker(tasks, limit=limit)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(worker.run())
