"""A port in use stops the server at startup with an error naming it: never two servers on one
port (gRPC's default SO_REUSEPORT would split the clients between them)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from net_support import free_port

from runplane.server import ServerSettings, create_server
from runplane.server.listen import PortInUseError


@pytest.mark.anyio
async def test_create_server_on_a_port_in_use_names_the_port(
    server_settings: ServerSettings,
) -> None:
    async with await create_server(server_settings) as first:
        taken = server_settings.model_copy(update={"port": first.port})
        with pytest.raises(
            PortInUseError, match=f"port {first.port} on 127.0.0.1 is already in use"
        ):
            await create_server(taken)


@pytest.mark.anyio
async def test_a_port_held_by_another_program_is_refused(server_settings: ServerSettings) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        taken = server_settings.model_copy(update={"port": port})
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use"):
            await create_server(taken)


def _start(tmp_path: Path, port: int, output: int = subprocess.PIPE) -> subprocess.Popen[str]:
    env = {**os.environ, "RUNPLANE_HOME": str(tmp_path)}
    env.pop("RUNPLANE_DATABASE_URL", None)
    command = [sys.executable, "-m", "runplane.cli", "server", "start", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)


def _serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
    return answer.status == health_pb2.HealthCheckResponse.SERVING


def test_a_second_server_start_on_the_same_port_exits_naming_it(tmp_path: Path) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    first = _start(tmp_path / "first", port, subprocess.DEVNULL)
    try:
        assert _serving(address)
        second = _start(tmp_path / "second", port)
        try:
            output, _ = second.communicate(timeout=60)
        finally:
            if second.poll() is None:
                second.kill()
        assert second.returncode == 1, output
        assert f"error: port {port} on 127.0.0.1 is already in use" in output
        assert "Traceback" not in output
        assert _serving(address)
        assert first.poll() is None
    finally:
        first.kill()
        first.wait(timeout=30)
