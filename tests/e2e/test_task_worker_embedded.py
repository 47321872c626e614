"""On the embedded default (no ``RUNPLANE_API_URL``), a task worker in one process and the
caller of ``delay`` in another share the SQLite home: the run reaches the worker and the
result the caller, each process's server hearing of the other's commits."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from anyio.streams.text import TextReceiveStream
from background_tasks import double
from e2e_support import ROOT

from runplane._engine.client import reset_engine_client

pytestmark = pytest.mark.anyio

TASKS = Path(__file__).with_name("background_tasks.py")


async def test_delay_reaches_a_worker_in_another_process_on_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNPLANE_API_URL", raising=False)
    monkeypatch.setenv("RUNPLANE_HOME", str(tmp_path))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "runplane.cli", "task-worker", "start", f"{TASKS}:double"]
    process = await anyio.open_process(command, env=env, cwd=ROOT, stderr=None)
    reset_engine_client()
    try:
        assert process.stdout is not None
        with anyio.fail_after(60):
            seen = ""
            async for chunk in TextReceiveStream(process.stdout):
                seen += chunk
                if "subscribed" in seen:
                    break
        value = await anyio.to_thread.run_sync(lambda: double.delay(21).result(timeout=30))
        assert value == 42
    finally:
        reset_engine_client()
        process.kill()
        await process.wait()
