"""``pause_flow_run(wait_for_input=Model)``: a flow waits for input, resumed from another
thread or from the CLI in another process, and gets the validated model back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from delivery_support import ManualClock
from engine_support import (
    ThreadedServer,
    any_engine_api,
    engine_api,
    paused_run,
    wait_until,
)
from pydantic import BaseModel
from typer.testing import CliRunner

import runplane
from runplane import InvalidArgument, StateType, SyncRunplaneClient, flow
from runplane._engine.client import reset_engine_client
from runplane.cli import app
from runplane.server import ServerSettings

__all__ = ["any_engine_api", "engine_api"]


class Approval(BaseModel):
    approved: bool
    reviewer: str = "nobody"


@flow
def review(timeout: float) -> Approval:
    return runplane.pause_flow_run(timeout=timeout, wait_for_input=Approval)


@flow
async def async_review(wait: float) -> Approval:
    return await runplane.apause_flow_run(timeout=wait, wait_for_input=Approval)


def _in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    thread.start()
    return thread, outcome


def test_the_flow_gets_the_resumers_input_as_its_model(
    any_engine_api: SyncRunplaneClient,
) -> None:
    waiting = review.with_options(name=f"review-{uuid.uuid4().hex[:8]}")
    thread, outcome = _in_thread(lambda: waiting(60))
    run_id = paused_run(any_engine_api, waiting.name)
    paused = any_engine_api.get_flow_run(run_id).state
    assert paused is not None
    assert paused.details.pause_input_schema_json is not None
    assert json.loads(paused.details.pause_input_schema_json) == Approval.model_json_schema()

    with pytest.raises(InvalidArgument, match="waiting for input"):
        runplane.resume_flow_run(run_id)
    with pytest.raises(InvalidArgument) as caught:
        runplane.resume_flow_run(run_id, {"approved": "maybe"})
    assert caught.value.field == "state.details.resume_input.approved"
    still = any_engine_api.get_flow_run(run_id).state
    assert still is not None
    assert still.type is StateType.PAUSED

    resumed = runplane.resume_flow_run(run_id, Approval(approved=True, reviewer="ann"))
    thread.join(30)
    assert resumed.type is StateType.RUNNING
    assert outcome == [Approval(approved=True, reviewer="ann")]


def test_an_async_flow_waits_for_input(engine_api: SyncRunplaneClient) -> None:
    waiting = async_review.with_options(name=f"async-review-{uuid.uuid4().hex[:8]}")
    thread, outcome = _in_thread(lambda: asyncio.run(waiting(60)))
    run_id = paused_run(engine_api, waiting.name)
    runplane.resume_flow_run(run_id, {"approved": False})
    thread.join(30)
    assert outcome == [Approval(approved=False)]


def test_wait_for_input_must_be_a_model(engine_api: SyncRunplaneClient) -> None:
    @flow
    def odd() -> None:
        runplane.pause_flow_run(timeout=5, wait_for_input=dict)  # type: ignore[type-var]

    with pytest.raises(TypeError, match="pydantic model class"):
        odd()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_server_clock_behind_the_flows_ends_the_pause_once_it_agrees(
    server_settings: ServerSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's clock stands still: when the pause's deadline passes for the flow, the
    # server still waits for input, and ends the pause only once its own clock has passed.
    clock = ManualClock()
    running = ThreadedServer(server_settings, clock)
    monkeypatch.setenv("RUNPLANE_API_URL", running.server.address)
    monkeypatch.setenv("RUNPLANE_HOME", str(tmp_path / "home"))
    reset_engine_client()
    try:
        with SyncRunplaneClient() as client:
            waiting = review.with_options(name=f"skew-{uuid.uuid4().hex[:8]}")
            thread, outcome = _in_thread(lambda: waiting(0.2, return_state=True))
            run_id = paused_run(client, waiting.name)
            paused = client.get_flow_run(run_id).state
            assert paused is not None
            deadline = paused.details.pause_deadline
            assert deadline is not None
            # Past the deadline by the flow's clock: its end of the pause is refused for now.
            wait_until(lambda: datetime.now(UTC) > deadline + timedelta(seconds=0.3))
            still = client.get_flow_run(run_id).state
            assert still is not None
            assert still.type is StateType.PAUSED
            clock.advance((deadline - clock.now()).total_seconds() + 1)
            thread.join(30)
        [state] = outcome
        assert state.type is StateType.FAILED
        assert "never resumed" in state.message
    finally:
        reset_engine_client()
        running.stop()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("runplane")), *args]
    return subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, timeout=60)


# One database is enough here: the other tests cover each; the CLI process is the point.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_cli_resumes_with_input_from_another_process(
    engine_api: SyncRunplaneClient,
) -> None:
    waiting = review.with_options(name=f"cli-review-{uuid.uuid4().hex[:8]}")
    thread, outcome = _in_thread(lambda: waiting(60))
    run_id = str(paused_run(engine_api, waiting.name))

    inspected = CliRunner().invoke(app, ["flow-run", "inspect", run_id])
    assert inspected.exit_code == 0, inspected.output
    assert "Waits for input" in inspected.output
    assert '"approved"' in inspected.output

    refused = CliRunner().invoke(app, ["flow-run", "resume", run_id])
    assert refused.exit_code == 1
    assert "waiting for input" in refused.output

    invalid = CliRunner().invoke(app, ["flow-run", "resume", run_id, "--input", '{"approved": 1}'])
    assert invalid.exit_code == 1
    assert "resume_input.approved" in invalid.output
    assert "is not of type 'boolean'" in invalid.output

    resumed = _cli("flow-run", "resume", run_id, "--input", '{"approved": true, "reviewer": "bo"}')
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Running" in resumed.stdout
    thread.join(30)
    assert outcome == [Approval(approved=True, reviewer="bo")]
