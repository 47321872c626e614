"""The engine in a child process: crash reporting on SIGTERM, and runs started by id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from engine_support import engine_api, state_names, task_runs, wait_until

from runplane import StateType, SyncRunplaneClient

__all__ = ["engine_api"]

BLOCKING_FLOW = """
import sys, threading
from pathlib import Path
from runplane import flow, task
from runplane._runtime.context import flow_run_context

@task
def step(x: int) -> int:
    return x + 1

def crashed(flow, flow_run, state):
    Path(sys.argv[1] + ".hook").write_text(f"{flow.name} {flow_run.id} {state.name}")

@flow(on_crashed=[crashed])
def blocked() -> None:
    step(1)
    Path(sys.argv[1]).write_text(str(flow_run_context.get().flow_run_id))
    threading.Event().wait(60)

blocked()
"""

ENTRYPOINT_FLOW = """
from runplane import flow, task

@task
def shout(word: str) -> str:
    return word.upper()

@flow
def greet(word: str, times: int = 1) -> str:
    return " ".join(shout(word) for _ in range(times))
"""


def _environment(client: SyncRunplaneClient) -> dict[str, str]:
    env = dict(os.environ)
    env["RUNPLANE_API_URL"] = client.settings.api_url or ""
    return env


def test_sigterm_reports_the_run_crashed(engine_api: SyncRunplaneClient, tmp_path: Path) -> None:
    script = tmp_path / "blocked.py"
    script.write_text(textwrap.dedent(BLOCKING_FLOW))
    marker = tmp_path / "run-id"
    child = subprocess.Popen(
        [sys.executable, str(script), str(marker)],
        env=_environment(engine_api),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: marker.exists() and bool(marker.read_text()))
        run_id = uuid.UUID(marker.read_text())

        def running() -> bool:
            state = engine_api.get_flow_run(run_id).state
            return state is not None and state.type is StateType.RUNNING

        wait_until(running)
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()  # also closes the pipe
    assert child.returncode != 0
    assert "TerminationSignal" in stderr
    state = engine_api.get_flow_run(run_id).state
    assert state is not None
    assert state.type is StateType.CRASHED
    assert "signal" in state.message
    assert (tmp_path / "run-id.hook").read_text() == f"blocked {run_id} Crashed"
    (step,) = task_runs(engine_api, run_id)  # recorded before the crash, not lost
    assert state_names(engine_api, step.id) == ["Running", "Completed"]


def test_the_engine_entry_point_runs_an_existing_flow_run(
    engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    (tmp_path / "greetings.py").write_text(textwrap.dedent(ENTRYPOINT_FLOW))
    flow = engine_api.create_flow("greet")
    run = engine_api.create_flow_run(flow.id, parameters={"word": "hi", "times": 2})
    env = _environment(engine_api)
    env["RUNPLANE_FLOW_RUN_ID"] = str(run.id)
    done = subprocess.run(
        [sys.executable, "-m", "runplane.engine", str(tmp_path / "greetings.py") + ":greet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    finished = engine_api.get_flow_run(run.id)
    assert finished.state is not None
    assert finished.state.type is StateType.COMPLETED
    assert finished.state.result() == "HI HI"
    assert len(task_runs(engine_api, run.id)) == 2
