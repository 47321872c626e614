"""The process pool brings exceptions back as themselves (their class from the user's
script included, or a stand-in of the same name and message when they cannot travel), and
ends a worker whose task runs past its timeout."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

from engine_support import engine_api, task_runs, wait_until
from process_support import process_exited

from runplane import ProcessPoolTaskRunner, StateType, SyncRunplaneClient, flow, task
from runplane._runtime.context import flow_run_context

__all__ = ["engine_api"]

SCRIPT = """
from runplane import ProcessPoolTaskRunner, flow, task


class MyError(Exception):
    pass


@task
def fails() -> None:
    raise MyError("defined in the script")


@flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
def pipeline() -> str:
    try:
        fails.submit().result()
    except MyError as error:
        return f"caught {type(error).__name__}: {error}"
    return "not caught"


if __name__ == "__main__":
    print(pipeline())
"""


def test_an_exception_class_of_the_users_script_comes_back_as_itself(
    engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    script = tmp_path / "etl.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run(
        [sys.executable, str(script)],
        env=dict(os.environ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "caught MyError: defined in the script"


class HoldsALock(Exception):
    """Cannot be pickled: it holds a lock."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


@task
def raises_unpicklable() -> None:
    raise HoldsALock("the message survives")


def test_an_unpicklable_exception_keeps_its_type_name_and_message(
    engine_api: SyncRunplaneClient,
) -> None:
    ids: list[uuid.UUID] = []

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def run() -> None:
        context = flow_run_context.get()
        assert context is not None
        ids.append(context.flow_run_id)
        raises_unpicklable.submit().wait()

    run()
    (recorded,) = task_runs(engine_api, ids[0])
    assert recorded.state is not None
    assert recorded.state.type is StateType.FAILED
    assert "HoldsALock: the message survives" in recorded.state.message


@task(timeout_seconds=8)  # time for a new process to start on a busy machine
def sleeps_long(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(600)


def test_a_timeout_ends_the_worker_process(engine_api: SyncRunplaneClient, tmp_path: Path) -> None:
    ids: list[uuid.UUID] = []
    pid_file = tmp_path / "worker.pid"

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def run() -> None:
        context = flow_run_context.get()
        assert context is not None
        ids.append(context.flow_run_id)
        sleeps_long.submit(str(pid_file)).wait()

    run()  # without the worker ended, this would take 600 s
    (recorded,) = task_runs(engine_api, ids[0])
    assert recorded.state is not None
    assert recorded.state.name == "TimedOut"
    assert "timed out after 8 seconds" in recorded.state.message
    worker = int(pid_file.read_text())
    wait_until(lambda: process_exited(worker), timeout=30)
