"""Heartbeats for the flow runs this process runs and no runner holds.

A runner heartbeats the run it leased and started; every other run the engine holds RUNNING
(a flow called directly, a subflow) is heartbeated from here, so that the server's heartbeat
reaper marks it CRASHED when the process dies without saying so (SIGKILL, out of memory).

One daemon thread per process sends ``WorkService.Heartbeat`` for all of them every
``RUNPLANE_FLOW_HEARTBEAT_SECONDS``, as a runner whose id is drawn once per process. A run's
first heartbeat goes out one interval after it started RUNNING, so that a short run costs no
round trip. Nothing is lost by waiting: the engine creates its runs with ``expect_heartbeats``,
so the server watches them from their creation, and it counts silence only while a run is
RUNNING, so a retry that starts again gets the whole timeout too. The thread ends when it
finds no run to heartbeat, and starts again with the next one.

A cancelled run's id comes back in the answer; a flow called on the main thread is then
stopped as a runner stops its process (see ``signals``), and reported CANCELLED.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from runplane._client.settings import get_settings
from runplane._client.sync_client import SyncRunplaneClient

logger = logging.getLogger("runplane.engine")

INTERVAL_VARIABLE = "RUNPLANE_FLOW_HEARTBEAT_SECONDS"


@dataclass(eq=False)
class WatchedRun:
    """One run this process heartbeats while it holds it RUNNING (or PAUSED, CANCELLING)."""

    run_id: uuid.UUID
    client: SyncRunplaneClient
    on_cancel: Callable[[], bool] | None = None
    """Stops the run's code when the run was cancelled; False when it cannot."""
    due: float = field(default=0.0, repr=False)
    told: bool = field(default=False, repr=False)
    """The answer about this run (cancelled, finished, unknown) was acted on."""


class Heartbeats:
    """The process's heartbeat thread and the runs it heartbeats."""

    def __init__(self) -> None:
        self.runner_id = uuid.uuid4()
        self.session_id = uuid.uuid4()
        self._lock = threading.Condition(threading.Lock())  # its wait also sleeps until due
        self._watched: dict[uuid.UUID, WatchedRun] = {}
        self._thread: threading.Thread | None = None
        self._failing = False
        self._intervals: dict[str | None, float] = {}

    def interval(self) -> float:
        """Seconds between heartbeats, as the environment says now (read once per value)."""
        raw = os.environ.get(INTERVAL_VARIABLE)
        seconds = self._intervals.get(raw)
        if seconds is None:
            seconds = self._intervals[raw] = get_settings().flow_heartbeat_seconds
        return seconds

    def watch(self, run: WatchedRun) -> None:
        """Starts heartbeating ``run``, one interval from now."""
        interval = self.interval()
        with self._lock:
            if run.run_id in self._watched:
                return
            # The thread sleeps at most one interval at a time: no need to wake it.
            run.due = time.monotonic() + interval
            self._watched[run.run_id] = run
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="runplane-flow-heartbeats", daemon=True
                )
                self._thread.start()

    def unwatch(self, run: WatchedRun) -> None:
        with self._lock:
            if self._watched.get(run.run_id) is run:
                del self._watched[run.run_id]

    def _loop(self) -> None:
        while batches := self._next_batches():
            for client, runs in batches.items():
                self._send(client, runs)

    def _next_batches(self) -> dict[SyncRunplaneClient, list[WatchedRun]]:
        """Waits until a run is due; then every run of the clients that have one due.

        Empty once nothing is watched any more, and the thread ends.
        """
        interval = self.interval()
        with self._lock:
            while True:
                if not self._watched:
                    self._thread = None
                    return {}
                now = time.monotonic()
                first = min(run.due for run in self._watched.values())
                if first <= now:
                    break
                self._lock.wait(min(first - now, interval))
            due = {run.client for run in self._watched.values() if run.due <= now}
            batches: dict[SyncRunplaneClient, list[WatchedRun]] = {}
            for run in self._watched.values():
                if run.client in due:
                    run.due = now + interval
                    batches.setdefault(run.client, []).append(run)
            return batches

    def _send(self, client: SyncRunplaneClient, runs: list[WatchedRun]) -> None:
        try:
            answer = client.heartbeat(self.runner_id, self.session_id, [r.run_id for r in runs])
        except Exception as error:  # never let a heartbeat fail the flow run
            if not self._failing:
                self._failing = True
                logger.warning(
                    "heartbeats of %d flow runs failed (the server marks a run CRASHED when "
                    "they stop for its heartbeat timeout): %s",
                    len(runs),
                    error,
                )
            return
        if self._failing:
            self._failing = False
            logger.info("heartbeats of flow runs are recorded again")
        by_id = {run.run_id: run for run in runs}
        for run_id in answer.cancel_flow_run_ids:
            if (run := by_id.get(run_id)) is not None:
                self._cancel(run)
        ended = (*answer.finished_flow_run_ids, *answer.unknown_flow_run_ids)
        for run_id in ended:
            if (run := by_id.get(run_id)) is not None and not run.told:
                run.told = True
                logger.warning(
                    "flow run %s is no longer running on the server; what this process "
                    "reports for it from now on may be refused",
                    run_id,
                )

    def _cancel(self, run: WatchedRun) -> None:
        if run.told:
            return
        run.told = True
        if run.on_cancel is not None and run.on_cancel():
            logger.info("flow run %s was cancelled: stopping it", run.run_id)
            return
        logger.warning(
            "flow run %s was cancelled, but its code cannot be interrupted here (it does not "
            "run on the main thread); it ends at its next state change",
            run.run_id,
        )


_heartbeats: Heartbeats | None = None
_create_lock = threading.Lock()


def heartbeats() -> Heartbeats:
    """The process's heartbeats, created on first use."""
    global _heartbeats
    found = _heartbeats
    if found is None:
        with _create_lock:
            found = _heartbeats
            if found is None:
                found = _heartbeats = Heartbeats()
    return found


def _forget_after_fork() -> None:
    # A forked child has no heartbeat thread and is another runner: it starts afresh.
    global _heartbeats, _create_lock
    _heartbeats = None
    _create_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
