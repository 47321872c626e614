"""A runner process authenticates its work stream and its runs with ``RUNPLANE_API_KEY``; a
key of the ``worker`` role is all that deploying, running and watching a deployment need."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from e2e_support import deploy, executions, runner_process
from pydantic import SecretStr

from runplane import RunplaneClient, Settings, StateType, arun_deployment
from runplane.server import RunplaneServer, ServerSettings, create_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

KEY = "runner-s3cret"


@pytest.fixture
def database_url(sqlite_database_url: str) -> str:
    # API keys do not depend on the database: SQLite alone keeps this test quick.
    return sqlite_database_url


@pytest.fixture
async def guarded(server_settings: ServerSettings) -> AsyncIterator[RunplaneServer]:
    settings = server_settings.model_copy(update={"api_keys": [SecretStr(f"worker:{KEY}")]})
    async with await create_server(settings) as running:
        yield running


async def test_a_runner_with_a_worker_key_completes_a_run(
    guarded: RunplaneServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The runner process, and the run processes it starts, inherit the key from here.
    monkeypatch.setenv("RUNPLANE_API_KEY", KEY)
    log = tmp_path / "runs.txt"
    settings = Settings(api_url=guarded.address, home=tmp_path, api_key=SecretStr(KEY))
    async with RunplaneClient(settings) as client:
        await deploy(client, "count_run", "keyed", parameters={"path": str(log)})
    async with runner_process(guarded.address, tmp_path, "keyed", "keyed-runner"):
        # With a timeout, arun_deployment waits for the run on the watch stream.
        finished = await arun_deployment("count_run/count_run-e2e", timeout=30, settings=settings)
    assert finished.state is not None
    assert finished.state.type is StateType.COMPLETED
    assert [line[0] for line in executions(log)] == [str(finished.id)]


async def test_a_runner_with_a_wrong_key_stops_with_one_line(
    guarded: RunplaneServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "RUNPLANE_API_URL": guarded.address,
        "RUNPLANE_API_KEY": "not-the-key",
        "RUNPLANE_HOME": str(tmp_path),
    }
    command = [sys.executable, "-m", "runplane.cli", "runner", "start", "--pool", "keyed"]
    with anyio.fail_after(60):
        finished = await anyio.run_process(command, env=env, check=False)
    stderr = finished.stderr.decode()
    assert finished.returncode == 1
    assert "Traceback" not in stderr
    # The runner's own log lines come first; the error is the last line, and the only one.
    assert stderr.splitlines()[-1] == (
        f"error: the server at {guarded.address} refused the API key (RUNPLANE_API_KEY): "
        "a valid API key is required: send the metadata 'authorization: Bearer <key>'"
    )
    assert [line for line in stderr.splitlines() if "error" in line.lower()] == [
        stderr.splitlines()[-1]
    ]
