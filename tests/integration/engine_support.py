"""A server on a background thread for engine tests, which call flows synchronously.

The ``server`` fixture runs in the test's event loop, which a blocking flow call would
stall; here the server gets a loop of its own. ``engine_api`` points the engine at it
through ``RUNPLANE_API_URL``, gives the engine a fresh client, and yields a client for
the assertions. Import the fixture into a test module to use it.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runplane import (
    FlowRunFilter,
    LogFilter,
    StateType,
    SyncRunplaneClient,
    TaskRun,
    TaskRunFilter,
)
from runplane._engine.client import reset_engine_client
from runplane.server import RunplaneServer, ServerSettings, create_server
from runplane.server.clock import Clock


class ThreadedServer:
    """A started server whose event loop runs on a daemon thread."""

    def __init__(self, settings: ServerSettings, clock: Clock | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.server: RunplaneServer = self._call(self._start(settings, clock))

    async def _start(self, settings: ServerSettings, clock: Clock | None) -> RunplaneServer:
        server = await create_server(settings, clock=clock)
        await server.start()
        return server

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(60)

    def stop(self) -> None:
        self._call(self.server.stop(0))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def engine_api(
    server_settings: ServerSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SyncRunplaneClient]:
    running = ThreadedServer(server_settings)
    monkeypatch.setenv("RUNPLANE_API_URL", running.server.address)
    monkeypatch.setenv("RUNPLANE_HOME", str(tmp_path / "home"))
    reset_engine_client()
    try:
        with SyncRunplaneClient() as client:
            yield client
    finally:
        reset_engine_client()
        running.stop()


def task_runs(client: SyncRunplaneClient, flow_run_id: Any) -> list[TaskRun]:
    """Every task run of a flow run, oldest first."""
    runs: list[TaskRun] = []
    token = None
    while True:
        page = client.list_task_runs(
            TaskRunFilter(flow_run_ids=(flow_run_id,)), page_size=200, page_token=token
        )
        runs.extend(page)
        if not page.next_page_token:
            return runs
        token = page.next_page_token


def state_names(client: SyncRunplaneClient, task_run_id: Any) -> list[str]:
    return [state.name for state in client.list_task_run_states(task_run_id, page_size=200)]


def flow_state_names(client: SyncRunplaneClient, flow_run_id: Any) -> list[str]:
    return [state.name for state in client.list_flow_run_states(flow_run_id, page_size=200)]


def log_messages(client: SyncRunplaneClient, flow_run_id: Any) -> list[str]:
    return [record.message for record in client.list_logs(LogFilter(flow_run_id=flow_run_id))]


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Polls ``check`` until it holds; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.02)


def paused_run(client: SyncRunplaneClient, flow_name: str) -> uuid.UUID:
    """The id of the flow's one run, once it is PAUSED."""
    found: list[uuid.UUID] = []

    def paused() -> bool:
        runs = client.list_flow_runs(FlowRunFilter(state_types=(StateType.PAUSED,)))
        found[:] = [run.id for run in runs if run.flow_name == flow_name]
        return bool(found)

    wait_until(paused)
    return found[0]


@pytest.fixture(params=["embedded", "sqlite", "postgres"])
def any_engine_api(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SyncRunplaneClient]:
    """The engine on the embedded default (no ``RUNPLANE_API_URL``), then on a server of
    each database; yields a client of the same API for the assertions."""
    monkeypatch.setenv("RUNPLANE_HOME", str(tmp_path / "home"))
    running: ThreadedServer | None = None
    if request.param == "embedded":
        monkeypatch.delenv("RUNPLANE_API_URL", raising=False)
    else:
        fixture = "sqlite_database_url" if request.param == "sqlite" else "postgres_url"
        url: str = request.getfixturevalue(fixture)
        settings = ServerSettings(home=tmp_path, database_url=url, host="127.0.0.1", port=0)
        running = ThreadedServer(settings)
        monkeypatch.setenv("RUNPLANE_API_URL", running.server.address)
    reset_engine_client()
    try:
        with SyncRunplaneClient() as client:
            yield client
    finally:
        reset_engine_client()
        if running is not None:
            running.stop()


def tagged_runs(client: SyncRunplaneClient, tag: str) -> list[Any]:
    """The flow runs created under ``runplane.tags(tag)``: a test's own on a shared database."""
    return list(client.list_flow_runs(FlowRunFilter(tags=(tag,)), page_size=200))
