"""Heartbeats of flow runs that no runner holds: a flow called directly, in a real process.

The server reaps runs after a short heartbeat timeout here, and the engine heartbeats more
often still, so that each case takes a few seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import anyio
import pytest
from engine_support import engine_api, wait_until

from runplane import (
    FlowRun,
    FlowRunFilter,
    RunplaneClient,
    State,
    StateType,
    SyncRunplaneClient,
    flow,
    get_run_context,
)
from runplane.server import ServerSettings

__all__ = ["engine_api"]

HEARTBEAT_TIMEOUT = 2.0
FLOW_HEARTBEAT = "0.2"

BLOCKING_FLOW = """
import sys, threading
from pathlib import Path
from runplane import flow
from runplane._runtime.context import flow_run_context

def cancelled(flow, flow_run, state):
    Path(sys.argv[1] + ".hook").write_text(state.name)

@flow(on_cancellation=[cancelled])
def blocked() -> None:
    Path(sys.argv[1]).write_text(str(flow_run_context.get().flow_run_id))
    threading.Event().wait(60)

blocked()
"""

# Long enough for a heartbeat sent as the run starts to arrive, far shorter than the interval.
SHORT_FLOW = """
import time
from runplane import flow, get_run_context

@flow
def short() -> None:
    time.sleep(0.5)
    print(get_run_context().flow_run.id)

short()
"""


@pytest.fixture
def server_settings(server_settings: ServerSettings) -> ServerSettings:
    """The reaper crashes a run two seconds after its last heartbeat, and looks often."""
    return server_settings.model_copy(
        update={"heartbeat_timeout": HEARTBEAT_TIMEOUT, "heartbeat_reaper_interval": 0.1}
    )


@pytest.fixture
def blocked_flow(engine_api: SyncRunplaneClient, tmp_path: Path) -> Iterator[BlockedFlow]:
    started = BlockedFlow(engine_api, tmp_path, FLOW_HEARTBEAT)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def unheartbeated_flow(engine_api: SyncRunplaneClient, tmp_path: Path) -> Iterator[BlockedFlow]:
    """A blocked flow whose first heartbeat would come only after a minute."""
    started = BlockedFlow(engine_api, tmp_path, "60")
    try:
        yield started
    finally:
        started.stop()


class BlockedFlow:
    """A flow called directly in a child process; it blocks until it is stopped."""

    def __init__(self, client: SyncRunplaneClient, tmp_path: Path, heartbeat: str) -> None:
        script = tmp_path / "blocked.py"
        script.write_text(textwrap.dedent(BLOCKING_FLOW))
        self.marker = tmp_path / "run-id"
        env = dict(os.environ)
        env["RUNPLANE_API_URL"] = client.settings.api_url or ""
        env["RUNPLANE_FLOW_HEARTBEAT_SECONDS"] = heartbeat
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(self.marker)], env=env, stderr=subprocess.PIPE
        )
        wait_until(lambda: self.marker.exists() and bool(self.marker.read_text()), 60)
        self.run_id = uuid.UUID(self.marker.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=30)


def wait_for_state(run_id: uuid.UUID, state_type: StateType, within: float = 30.0) -> FlowRun:
    """Watches the run until it is in ``state_type``; the run then."""

    async def watch() -> FlowRun:
        async with RunplaneClient() as client:
            changes = client.watch_flow_runs(
                FlowRunFilter(flow_run_ids=(run_id,)), include_current=True
            )
            with anyio.move_on_after(within):
                async with aclosing(changes):
                    async for change in changes:
                        if change.state.type is state_type:
                            return change.flow_run.model_copy(update={"state": change.state})
            current = (await client.get_flow_run(run_id)).state
        pytest.fail(f"flow run not {state_type.value} within {within} s; it is {current}")

    return anyio.run(watch)


def test_a_killed_ad_hoc_run_is_crashed_by_the_server(
    engine_api: SyncRunplaneClient, blocked_flow: BlockedFlow
) -> None:
    def outlived_the_timeout() -> bool:
        run = engine_api.get_flow_run(blocked_flow.run_id)
        assert run.state is not None
        assert run.state.type is StateType.RUNNING, run.state
        beat, start = run.heartbeat_time, run.start_time
        outlived = HEARTBEAT_TIMEOUT + 1
        return beat is not None and start is not None and (beat - start).total_seconds() > outlived

    # Heartbeats keep it RUNNING past the timeout while it lives; the reaper looks meanwhile.
    wait_until(outlived_the_timeout, 30)
    blocked_flow.process.send_signal(signal.SIGKILL)
    crashed = wait_for_state(blocked_flow.run_id, StateType.CRASHED)
    assert crashed.state is not None
    assert "no heartbeat" in crashed.state.message


def test_a_run_killed_before_its_first_heartbeat_is_crashed_too(
    engine_api: SyncRunplaneClient, unheartbeated_flow: BlockedFlow
) -> None:
    unheartbeated_flow.process.send_signal(signal.SIGKILL)
    crashed = wait_for_state(unheartbeated_flow.run_id, StateType.CRASHED)
    assert crashed.heartbeat_time is not None
    assert crashed.state is not None
    assert "no heartbeat" in crashed.state.message


def test_cancelling_an_ad_hoc_run_stops_its_process(
    engine_api: SyncRunplaneClient, blocked_flow: BlockedFlow
) -> None:
    run_id = blocked_flow.run_id
    wait_for_state(run_id, StateType.RUNNING)
    engine_api.set_flow_run_state(run_id, State(type=StateType.CANCELLING))
    cancelled = wait_for_state(run_id, StateType.CANCELLED)
    _, stderr = blocked_flow.process.communicate(timeout=30)
    assert blocked_flow.process.returncode != 0
    assert b"TerminationSignal" in stderr
    assert cancelled.state is not None
    assert (blocked_flow.marker.parent / "run-id.hook").read_text() == "Cancelled"


def test_an_ad_hoc_run_is_heartbeated_only_when_it_runs_long(
    engine_api: SyncRunplaneClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPLANE_FLOW_HEARTBEAT_SECONDS", "0.1")
    run_ids: list[uuid.UUID] = []

    def heartbeated(run_id: uuid.UUID) -> bool:
        """A heartbeat came after the run started (its creation set the first one)."""
        run = engine_api.get_flow_run(run_id)
        assert run.heartbeat_time is not None
        assert run.start_time is not None
        return run.heartbeat_time > run.start_time

    @flow
    def until_heartbeated() -> None:
        run_ids.append(get_run_context().flow_run.id)
        wait_until(lambda: heartbeated(run_ids[0]))

    assert until_heartbeated(return_state=True).type is StateType.COMPLETED
    (long_run,) = run_ids
    assert heartbeated(long_run)
    # A run shorter than the interval costs no heartbeat call at all. The interval is an hour
    # there, so that the run is shorter however slow the machine; in a process of its own,
    # whose heartbeat thread sleeps that hour without holding up the runs of this one.
    env = {**os.environ, "RUNPLANE_FLOW_HEARTBEAT_SECONDS": "3600"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SHORT_FLOW)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    short_run = uuid.UUID(done.stdout.split()[-1])
    state = engine_api.get_flow_run(short_run).state
    assert state is not None
    assert state.type is StateType.COMPLETED
    assert not heartbeated(short_run)
