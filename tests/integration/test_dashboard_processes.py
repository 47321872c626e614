"""The dashboard as users start it: beside the API by ``runplane server start``, and alone by
``runplane dashboard`` for a server elsewhere."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from net_support import free_port

SERVER_START = [sys.executable, "-m", "runplane.cli", "server", "start"]


def two_free_ports() -> tuple[int, int]:
    """Two different free loopback ports (two calls of free_port may give the same one)."""
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        return int(first.getsockname()[1]), int(second.getsockname()[1])


@contextmanager
def _process(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for_line(process: subprocess.Popen[str], text: str) -> list[str]:
    """The output up to the first line holding ``text``; the test's timeout bounds the wait,
    and an exit first fails with the output."""
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"exited with {process.wait()} before {text!r}:\n{''.join(seen)}")


def test_server_start_serves_the_dashboard_beside_the_api(tmp_path: Path) -> None:
    api_port, dashboard_port = two_free_ports()
    env = {
        "RUNPLANE_HOME": str(tmp_path),
        "RUNPLANE_SERVER_PORT": str(api_port),
        "RUNPLANE_SERVER_DASHBOARD_ENABLED": "true",
        "RUNPLANE_SERVER_DASHBOARD_PORT": str(dashboard_port),
    }
    with _process(SERVER_START, env) as process:
        # The command says where first; the server logs the same once the dashboard listens.
        output = _wait_for_line(process, "runplane.server.dashboard dashboard on")
        assert f"dashboard on http://127.0.0.1:{dashboard_port}" in output[1]
        page = httpx.get(f"http://127.0.0.1:{dashboard_port}/runs", timeout=10)
        assert page.status_code == 200
        assert "Flow runs" in page.text


def test_the_dashboard_can_be_turned_off(tmp_path: Path) -> None:
    env = {
        "RUNPLANE_HOME": str(tmp_path),
        "RUNPLANE_SERVER_PORT": str(free_port()),
        "RUNPLANE_SERVER_DASHBOARD_ENABLED": "false",
    }
    with _process([*SERVER_START, "--log-level", "INFO"], env) as process:
        output = _wait_for_line(process, "serving on")
        assert not any("dashboard on" in line for line in output)


def test_runplane_dashboard_serves_another_servers_api(tmp_path: Path) -> None:
    api_port, dashboard_port = two_free_ports()
    server_env = {"RUNPLANE_HOME": str(tmp_path), "RUNPLANE_SERVER_PORT": str(api_port)}
    with _process([*SERVER_START, "--log-level", "INFO"], server_env) as server:
        _wait_for_line(server, "serving on")
        command = [sys.executable, "-m", "runplane.cli", "dashboard", "--port", str(dashboard_port)]
        client_env = {"RUNPLANE_API_URL": f"127.0.0.1:{api_port}", "COLUMNS": "200"}
        with _process(command, client_env) as dashboard:
            _wait_for_line(dashboard, f"http://127.0.0.1:{dashboard_port}")
            page = httpx.get(f"http://127.0.0.1:{dashboard_port}/deployments", timeout=10)
            assert page.status_code == 200
            assert "No deployments" in page.text


def test_the_server_stops_promptly_with_a_page_open(tmp_path: Path) -> None:
    api_port, dashboard_port = two_free_ports()
    env = {
        "RUNPLANE_HOME": str(tmp_path),
        "RUNPLANE_SERVER_PORT": str(api_port),
        "RUNPLANE_SERVER_DASHBOARD_ENABLED": "true",
        "RUNPLANE_SERVER_DASHBOARD_PORT": str(dashboard_port),
    }
    with _process(SERVER_START, env) as process:
        _wait_for_line(process, "runplane.server.dashboard dashboard on")
        url = f"http://127.0.0.1:{dashboard_port}/runs/events"
        with httpx.stream("GET", url, timeout=30) as events:
            assert next(events.iter_lines()) == ": open"
            process.send_signal(signal.SIGTERM)
            # The dashboard ends its event streams within a second, then the API stops.
            assert process.wait(timeout=20) == 0
