"""The runner's fork server: children forked with a run's environment, their exit codes,
and stopping them as a group."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest

from runplane.runner._forks import open_fork_server
from runplane.runner._processes import stop_process_group

pytestmark = pytest.mark.anyio


async def test_a_child_without_a_run_exits_with_the_engines_usage_code() -> None:
    async with open_fork_server() as forks:
        assert forks is not None
        child = await forks.start({"PATH": os.environ.get("PATH", "")})
        with anyio.fail_after(10):
            assert await child.wait() == 2


async def test_a_child_leads_its_own_session_with_the_runs_environment(tmp_path: Path) -> None:
    """The flow's module is imported in the child: it records what the child sees."""
    seen = tmp_path / "seen"
    module = tmp_path / "probe.py"
    module.write_text(
        "import os, pathlib\n"
        f"pathlib.Path({str(seen)!r}).write_text("
        "f\"{os.getsid(0)} {os.getpid()} {os.environ['PROBE']} {len(os.environ)}\")\n"
        "raise SystemExit(7)\n"
    )
    env = {"PROBE": "value", "RUNPLANE_FLOW_RUN_ID": "x", "RUNPLANE_FLOW_ENTRYPOINT": f"{module}:f"}
    async with open_fork_server() as forks:
        assert forks is not None
        child = await forks.start(env)
        with anyio.fail_after(10):
            assert await child.wait() == 7
    session, pid, probe, size = seen.read_text().split()
    assert session == pid == str(child.pid)
    assert probe == "value"
    assert int(size) == len(env)  # nothing of the runner's environment but what was passed


async def test_a_stopped_child_reports_the_signal(tmp_path: Path) -> None:
    started = tmp_path / "started"
    os.mkfifo(started)
    module = tmp_path / "sleeper.py"
    module.write_text(
        f"import pathlib, time\npathlib.Path({str(started)!r}).write_text('up')\ntime.sleep(60)\n"
    )
    env = {"RUNPLANE_FLOW_RUN_ID": "x", "RUNPLANE_FLOW_ENTRYPOINT": f"{module}:f"}
    async with open_fork_server() as forks:
        assert forks is not None
        child = await forks.start(env)
        with anyio.fail_after(10):
            # Opening the fifo waits for the child to write to it.
            assert await anyio.to_thread.run_sync(started.read_text) == "up"
            assert await stop_process_group(child, grace=5) == -signal.SIGTERM
