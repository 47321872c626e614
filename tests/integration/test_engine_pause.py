"""Pausing a flow run from its code and resuming it from elsewhere, through a real server."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from engine_support import engine_api, paused_run
from typer.testing import CliRunner

import runplane
from runplane import FlowRunFilter, StateType, SyncRunplaneClient, flow
from runplane.cli import app

__all__ = ["engine_api"]


@flow
def approval(timeout: float) -> str:
    runplane.pause_flow_run(timeout=timeout)
    return "approved"


@flow
async def async_approval(wait: float) -> str:
    await runplane.apause_flow_run(timeout=wait)
    return "approved"


def _in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    thread.start()
    return thread, outcome


def test_a_paused_flow_run_goes_on_when_resumed(engine_api: SyncRunplaneClient) -> None:
    name = f"approval-{uuid.uuid4().hex[:8]}"
    paused_flow = approval.with_options(name=name)
    thread, outcome = _in_thread(lambda: paused_flow(60, return_state=True))
    run_id = paused_run(engine_api, name)
    paused = engine_api.get_flow_run(run_id).state
    resumed = runplane.resume_flow_run(run_id)
    thread.join(30)
    [state] = outcome
    history = [s.name for s in engine_api.list_flow_run_states(run_id)]
    assert paused is not None
    assert paused.details.pause_deadline is not None
    assert resumed.type is StateType.RUNNING
    assert state.type is StateType.COMPLETED
    assert state.result() == "approved"
    assert history == ["Running", "Paused", "Running", "Completed"]


def test_a_pause_nobody_resumes_fails_the_run_at_its_deadline(
    engine_api: SyncRunplaneClient,
) -> None:
    state = approval(0.5, return_state=True)
    with pytest.raises(runplane.PauseTimeout, match="paused and never resumed"):
        state.result()
    assert state.type is StateType.FAILED
    run = engine_api.list_flow_runs(FlowRunFilter(state_types=(StateType.FAILED,)))
    assert any(r.state is not None and "never resumed" in r.state.message for r in run)


def test_only_a_paused_run_resumes(engine_api: SyncRunplaneClient) -> None:
    finished = approval.with_options(name=f"quick-{uuid.uuid4().hex[:8]}")
    thread, _ = _in_thread(lambda: finished(60))
    run_id = paused_run(engine_api, finished.name)
    runplane.resume_flow_run(run_id)
    thread.join(30)
    with pytest.raises(runplane.RunAborted, match="it is Completed, not paused"):
        runplane.resume_flow_run(run_id)


def test_pausing_outside_a_flow_run_is_refused() -> None:
    with pytest.raises(RuntimeError, match="from a flow run's own code"):
        runplane.pause_flow_run(timeout=1)


def test_the_cli_resumes_apaused_run(engine_api: SyncRunplaneClient) -> None:
    waiting = approval.with_options(name=f"cli-{uuid.uuid4().hex[:8]}")
    thread, outcome = _in_thread(lambda: waiting(60))
    run_id = paused_run(engine_api, waiting.name)
    resumed = CliRunner().invoke(app, ["flow-run", "resume", str(run_id)])
    thread.join(30)
    again = CliRunner().invoke(app, ["flow-run", "resume", str(run_id)])
    assert resumed.exit_code == 0, resumed.output
    assert "Running" in resumed.output
    assert outcome == ["approved"]
    assert again.exit_code == 1
    assert "not paused" in again.output


def test_an_async_flow_pauses_without_blocking_its_loop(engine_api: SyncRunplaneClient) -> None:
    waiting = async_approval.with_options(name=f"async-{uuid.uuid4().hex[:8]}")
    thread, outcome = _in_thread(lambda: asyncio.run(waiting(60)))
    run_id = paused_run(engine_api, waiting.name)
    runplane.resume_flow_run(run_id)
    thread.join(30)
    assert outcome == ["approved"]
