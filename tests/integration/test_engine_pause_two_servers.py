"""A flow paused through one server goes on when it is resumed through another server on the
same database, long before its pause would time out."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from engine_support import ThreadedServer, engine_api, paused_run

from runplane import Settings, State, StateType, SyncRunplaneClient, flow, pause_flow_run
from runplane.server import ServerSettings

__all__ = ["engine_api"]

PAUSE_TIMEOUT = 600.0
WITHIN = 60.0
"""Seconds the flow may take to go on after the resume; the pause alone lasts ten minutes."""


@flow
def approval(timeout: float) -> str:
    pause_flow_run(timeout=timeout)
    return "approved"


@pytest.fixture
def second_server(server_settings: ServerSettings) -> Iterator[ThreadedServer]:
    running = ThreadedServer(server_settings)
    try:
        yield running
    finally:
        running.stop()


def test_a_resume_through_another_server_wakes_the_paused_flow(
    engine_api: SyncRunplaneClient, second_server: ThreadedServer
) -> None:
    name = f"approval-{uuid.uuid4().hex[:8]}"
    paused_flow = approval.with_options(name=name)
    outcome: list[Any] = []
    thread = threading.Thread(
        target=lambda: outcome.append(paused_flow(PAUSE_TIMEOUT, return_state=True)), daemon=True
    )
    thread.start()
    run_id = paused_run(engine_api, name)
    elsewhere = Settings(api_url=second_server.server.address)
    with SyncRunplaneClient(elsewhere) as client:
        resumed = client.set_flow_run_state(run_id, State(type=StateType.RUNNING))
    assert resumed.state is not None
    assert resumed.state.type is StateType.RUNNING
    thread.join(WITHIN)
    assert outcome, "the flow did not notice the resume"
    [state] = outcome
    assert state.type is StateType.COMPLETED
