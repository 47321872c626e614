"""``runplane server start`` as a process: serves on loopback, stops cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from net_support import free_port
from typer.testing import CliRunner

from runplane.cli import app
from runplane.v1 import flows_pb2, flows_pb2_grpc


@contextlib.contextmanager
def _serving(
    tmp_path: Path, arguments: list[str], environment: dict[str, str]
) -> Iterator[subprocess.Popen[str]]:
    """``runplane server start ARGUMENTS`` until it answers on the settings' port."""
    env = {**os.environ, "RUNPLANE_HOME": str(tmp_path), **environment}
    env.pop("RUNPLANE_DATABASE_URL", None)
    command = [sys.executable, "-m", "runplane.cli", "server", "start", *arguments]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def _wait_ready(address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    address = f"127.0.0.1:{port}"
    with _serving(tmp_path, ["--port", str(port)], {}) as process:
        _wait_ready(address)
        yield process, address


def test_the_address_comes_from_the_environment_without_options(tmp_path: Path) -> None:
    port = free_port()
    environment = {"RUNPLANE_SERVER_HOST": "127.0.0.1", "RUNPLANE_SERVER_PORT": str(port)}
    with _serving(tmp_path, [], environment) as process:
        _wait_ready(f"127.0.0.1:{port}")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        output = process.stdout.read() if process.stdout else ""
    assert f"127.0.0.1:{port}" in output


def test_serves_on_sqlite_in_home_and_stops_on_sigterm(
    server_process: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    process, address = server_process
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service="runplane.v1.FlowService"))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        flows.CreateFlow(flows_pb2.CreateFlowRequest(name="persisted"), timeout=10)
    assert (tmp_path / "runplane.db").exists()

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    output = process.stdout.read() if process.stdout else ""
    assert "shutting down" in output


def test_binds_to_loopback_only(server_process: tuple[subprocess.Popen[str], str]) -> None:
    _, address = server_process
    port = int(address.rsplit(":", 1)[1])
    probe = socket.socket()
    probe.settimeout(2)
    try:
        reachable_elsewhere = _first_non_loopback_address()
        if reachable_elsewhere is None:
            pytest.skip("this machine has no non-loopback address to probe")
        assert probe.connect_ex((reachable_elsewhere, port)) != 0
    finally:
        probe.close()


def _first_non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            # No packet is sent: connecting a UDP socket only picks the outgoing interface.
            sock.connect(("192.0.2.1", 9))
            address = str(sock.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_an_invalid_setting_stops_the_start_naming_the_variable(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["server", "start"], env={"RUNPLANE_HOME": str(tmp_path), "RUNPLANE_SERVER_PORT": "x"}
    )
    assert result.exit_code == 2
    assert "error: RUNPLANE_SERVER_PORT: Input should be a valid integer" in result.output
