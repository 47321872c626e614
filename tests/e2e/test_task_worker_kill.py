"""A task worker killed mid-task: its run is handed to another worker once the lease
expires, and executed there once, to completion; never by two workers at once."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from background_tasks import hold_first
from e2e_support import ROOT

from runplane import StateType, SyncRunplaneClient, TaskRun
from runplane._engine.client import reset_engine_client
from runplane.server import RunplaneServer, ServerSettings

pytestmark = pytest.mark.anyio

TASKS = Path(__file__).with_name("background_tasks.py")


@pytest.fixture
def server_settings(server_settings: ServerSettings) -> ServerSettings:
    # A short lease, so that the killed worker's run goes to another within seconds.
    return server_settings.model_copy(
        update={"heartbeat_timeout": 2.0, "lease_reaper_interval": 0.25}
    )


@asynccontextmanager
async def task_worker(api_url: str, home: Path, name: str) -> AsyncIterator[Process]:
    """A ``runplane task-worker start`` process, yielded once it has subscribed."""
    env = {**os.environ, "RUNPLANE_API_URL": api_url, "RUNPLANE_HOME": str(home)}
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "runplane.cli", "task-worker", "start"]
    command += [f"{TASKS}:hold_first", "--name", name, "--limit", "2"]
    process = await anyio.open_process(command, env=env, cwd=ROOT, stderr=None)
    try:
        assert process.stdout is not None
        lines = TextReceiveStream(process.stdout)
        with anyio.fail_after(30):
            seen = ""
            async for chunk in lines:
                seen += chunk
                if "subscribed" in seen:
                    break
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def _lines(path: Path, count: int, within: float = 30.0) -> list[list[str]]:
    with anyio.fail_after(within):
        while True:
            file = anyio.Path(path)
            lines = (await file.read_text()).splitlines() if await file.exists() else []
            if len(lines) >= count:
                return [line.split() for line in lines]
            await anyio.sleep(0.02)


async def test_a_killed_workers_task_runs_once_more_on_another_worker(
    server: RunplaneServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPLANE_API_URL", server.address)
    monkeypatch.setenv("RUNPLANE_HOME", str(tmp_path))
    reset_engine_client()
    log = tmp_path / "executions.txt"
    try:
        async with task_worker(server.address, tmp_path, "doomed") as doomed:
            future = await anyio.to_thread.run_sync(hold_first.delay, str(log))
            [[event, pid]] = await _lines(log, 1)
            assert (event, int(pid)) == ("start", doomed.pid)
            doomed.send_signal(signal.SIGKILL)
            await doomed.wait()
        async with task_worker(server.address, tmp_path, "survivor") as survivor:
            value = await anyio.to_thread.run_sync(lambda: future.result(timeout=30))
        assert value == f"done by {survivor.pid}"
        events = [(event, int(pid)) for event, pid in await _lines(log, 3)]
        # The doomed worker died before the survivor started: never two at once.
        assert events == [("start", doomed.pid), ("start", survivor.pid), ("end", survivor.pid)]

        def recorded() -> tuple[TaskRun, list[str]]:
            with SyncRunplaneClient() as client:
                states = client.list_task_run_states(future.task_run_id)
                return client.get_task_run(future.task_run_id), [s.name for s in states]

        # Blocking calls, off the loop that serves them.
        run, names = await anyio.to_thread.run_sync(recorded)
        assert run.attempt == 2
        assert run.state is not None
        assert run.state.type is StateType.COMPLETED
        assert names == [
            "Scheduled",
            "Pending",
            "Running",
            "Rescheduled",
            "Pending",
            "Running",
            "Completed",
        ]
    finally:
        reset_engine_client()
