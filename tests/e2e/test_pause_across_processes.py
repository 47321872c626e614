"""The embedded default across processes: a paused flow in one process goes on as soon as
``runplane flow-run resume`` in another process (each with its own in-process server on
the same SQLite home) resumes it, not when its pause times out."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

PAUSE_TIMEOUT = 600
DEADLINE = 60.0
"""Seconds the whole exchange may take here; the pause alone would take ten minutes."""

PAUSING_FLOW = textwrap.dedent(
    f"""
    import sys
    from pathlib import Path

    from runplane import flow, get_run_context, pause_flow_run

    @flow
    def pausing() -> str:
        Path(sys.argv[1]).write_text(str(get_run_context().flow_run.id))
        pause_flow_run(timeout={PAUSE_TIMEOUT})
        return "resumed"

    print(pausing())
    """
)


def embedded_env(home: Path) -> dict[str, str]:
    """The environment without any RUNPLANE_ setting but the home: no API URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPLANE_")}
    env["RUNPLANE_HOME"] = str(home)
    return env


def runplane_command() -> list[str]:
    return [str(Path(sys.executable).with_name("runplane"))]


def wait_for_file(path: Path, process: subprocess.Popen[str], until: float) -> str:
    while time.monotonic() < until:
        if path.exists() and path.read_text():
            return path.read_text()
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    raise AssertionError(f"{path} was not written in time")


def test_a_resume_from_another_process_wakes_the_paused_flow(tmp_path: Path) -> None:
    home, run_id_file = tmp_path / "home", tmp_path / "run-id"
    env = embedded_env(home)
    until = time.monotonic() + DEADLINE
    flow_process = subprocess.Popen(
        [sys.executable, "-c", PAUSING_FLOW, str(run_id_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = wait_for_file(run_id_file, flow_process, until)
        # The run pauses right after it writes its id; a resume before that is refused.
        while True:
            resume = subprocess.run(
                [*runplane_command(), "flow-run", "resume", run_id],
                env=env,
                capture_output=True,
                text=True,
                timeout=max(until - time.monotonic(), 1.0),
            )
            if resume.returncode == 0 or time.monotonic() > until:
                break
            assert "not paused" in resume.stdout + resume.stderr, resume
            time.sleep(0.2)
        assert resume.returncode == 0, resume
        out, err = flow_process.communicate(timeout=max(until - time.monotonic(), 1.0))
    finally:
        if flow_process.poll() is None:
            flow_process.kill()
            flow_process.communicate()
    assert flow_process.returncode == 0, err
    assert out.strip().splitlines()[-1] == "resumed"
