"""Flows that e2e deployments point at; each records its executions in a file.

Every line is ``<flow run id> <runner name> <pid>``, appended in one write so that
concurrent runs never interleave.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from runplane import flow, pause_flow_run, suspend_flow_run, task


def record(path: str, *extra: str) -> int:
    """Appends this execution's line; returns how many executions of this run came before."""
    run_id = os.environ["RUNPLANE_FLOW_RUN_ID"]
    file = Path(path)
    before = file.read_text().split().count(run_id) if file.exists() else 0
    runner = os.environ.get("RUNPLANE_RUNNER_NAME", "-")
    line = " ".join([run_id, runner, str(os.getpid()), *extra]) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return before


def wait_for(path: str, seconds: float = 60.0) -> None:
    """Blocks until the file exists; tests create it to let a run finish."""
    deadline = time.monotonic() + seconds
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


@flow
def count_run(path: str) -> str:
    record(path)
    return os.environ["RUNPLANE_FLOW_RUN_ID"]


@flow
def hold(path: str, release: str) -> None:
    record(path)
    wait_for(release)


def _note_cancelled(flow: Any, flow_run: Any, state: Any) -> None:
    Path(flow_run.parameters["path"]).with_suffix(".hook").write_text(state.type.value)


@flow(on_cancellation=[_note_cancelled])
def hold_cancellable(path: str, release: str) -> None:
    record(path)
    wait_for(release)


@flow(retries=1, retry_delay_seconds=0)
def crash_once(path: str, release: str) -> str:
    if record(path) == 0:
        wait_for(release)
    return "done"


@flow
def timed(path: str) -> None:
    record(path, "start", repr(time.time()))
    time.sleep(0.3)
    record(path, "end", repr(time.time()))


@flow
def pause_for_approval(path: str) -> str:
    record(path, "before")
    pause_flow_run(timeout=60)
    record(path, "after")
    return "approved"


@flow
def fail_first(path: str) -> str:
    if record(path) == 0:
        raise RuntimeError("the first run fails")
    return "done"


@flow(retries=1, retry_delay_seconds=0)
def fail_first_with_retries(path: str) -> str:
    if record(path) == 0:
        raise RuntimeError("the first run fails")
    return "done"


@task(persist_result=True)
def stamp(path: str) -> str:
    record(path, "task")
    return "stamped"


@flow
def suspend_once(path: str, timeout: float = 600.0) -> str:
    record(path, "flow")
    stamped = stamp(path)
    suspend_flow_run(timeout=timeout)
    record(path, "after")
    return stamped


@flow(retries=1, retry_delay_seconds=0)
def tick(path: str) -> str:
    """Writes a ``tick`` line every 50 ms: forever in a run's first execution (it only ends when
    killed), for half a second in the next."""
    first = record(path, "start", repr(time.time())) == 0
    deadline = time.monotonic() + 0.5
    while first or time.monotonic() < deadline:
        record(path, "tick", repr(time.time()))
        time.sleep(0.05)
    return "done"


@flow
def timed_run(path: str, seconds: float) -> None:
    """Records when its body starts and ends, to count how many run at once on a runner."""
    record(path, "start", repr(time.time()))
    time.sleep(seconds)
    record(path, "end", repr(time.time()))
