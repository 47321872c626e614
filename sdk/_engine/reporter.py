"""Sends a flow run's task-run transitions to the server in ordered, acknowledged batches.

Recording a transition only appends a plain tuple under a lock; a background thread turns
the tuples into protobuf messages and sends them with ``ReportTaskRuns``, one RPC per
batch. ``flush()`` returns once the server acknowledged everything recorded before it, so
a flow run reports its task runs completely before its own terminal state.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from runplane._client.client import RunplaneClient
from runplane._client.errors import RunplaneError
from runplane._client.sync_client import SyncRunplaneClient
from runplane._engine.report_messages import report_request
from runplane._engine.reporter_types import Record, TaskRunCreate, Transition
from runplane.v1 import task_runs_pb2

__all__ = ["ReportFailed", "TaskReporter", "TaskRunCreate", "Transition"]

logger = logging.getLogger("runplane.engine")

MAX_BATCH = 1000
"""Most updates in one ReportTaskRuns call."""
LINGER_SECONDS = 0.02
"""How long recorded transitions may wait for more to join their batch."""


class ReportFailed(RunplaneError):
    """Task-run updates could not be delivered; the message says how many."""


class TaskReporter:
    """Buffers one flow run's task-run transitions and sends them from a background thread."""

    def __init__(
        self, client: SyncRunplaneClient, flow_run_id: uuid.UUID, start_sequence: int = 0
    ) -> None:
        self._client = client
        self._flow_run_id = flow_run_id
        self._lock = threading.Lock()
        self._pending: list[Record] = []
        self._sequence = start_sequence
        self._acknowledged = start_sequence
        self._acked = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._closing = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def record(
        self, task_run_id: uuid.UUID, change: Transition, create: TaskRunCreate | None = None
    ) -> None:
        """Queues one transition; the hot path: no I/O, no validation."""
        with self._lock:
            self._sequence += 1
            self._pending.append((self._sequence, task_run_id, create, change))
            size = len(self._pending)
        if self._thread is None:
            self._start()
        if size == MAX_BATCH:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name=f"runplane-reporter-{self._flow_run_id}", daemon=True
            )
            self._thread.start()

    def _take(self) -> list[Record]:
        with self._lock:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        return batch

    def _run(self) -> None:
        while True:
            self._wake.wait(LINGER_SECONDS)
            self._wake.clear()
            while batch := self._take():
                self._send(batch)
            if self._closing:
                return

    def _send(self, batch: list[Record]) -> None:
        request = report_request(self._flow_run_id, batch)
        delay = 0.05
        while True:
            try:
                acknowledged = self._call(request)
                break
            except RunplaneError as error:
                if self._closing:
                    return  # flush() already reported the loss to the flow run
                logger.warning("reporting %d task run updates failed: %s", len(batch), error)
                self._error = error
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        self._error = None
        with self._acked:
            self._acknowledged = max(self._acknowledged, acknowledged, batch[-1][0])
            self._acked.notify_all()

    def _call(self, request: task_runs_pb2.ReportTaskRunsRequest) -> int:
        # The typed client would rebuild every update as a pydantic model and convert it
        # back; the prepared message goes through the same channel, deadline and errors.
        async def report(client: RunplaneClient) -> int:
            response = await client._unary(client.stubs.task_runs.ReportTaskRuns, request)
            return int(response.acknowledged_through)

        return self._client._call(report)

    @property
    def last_sequence(self) -> int:
        return self._sequence

    def flush(self, timeout: float = 30.0) -> None:
        """Returns once everything recorded so far is acknowledged by the server.

        Raises ``ReportFailed`` when that did not happen within ``timeout`` seconds.
        """
        with self._lock:
            target = self._sequence
        if target <= self._acknowledged:
            return  # everything is acknowledged: no need to wake the sender
        if self._thread is None:
            self._start()
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._acked:
            while self._acknowledged < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = target - self._acknowledged
                    raise ReportFailed(
                        f"{missing} task run updates of flow run {self._flow_run_id} were not "
                        f"recorded: {self._error or 'the server did not answer in time'}"
                    )
                self._acked.wait(min(remaining, 0.5))
                self._wake.set()

    def discard(self) -> None:
        """Drops what is not sent yet and stops the sender: the run is no longer ours."""
        with self._lock:
            self._pending.clear()
        self._closing = True
        self._wake.set()

    def close(self, timeout: float = 30.0) -> None:
        """Flushes, then stops the sender thread."""
        try:
            self.flush(timeout)
        finally:
            self._closing = True
            self._wake.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=1.0)
