"""Several server processes on one port (`runplane server start --workers N`): the kernel
spreads connections over them, a change made through one reaches a watch served by another, a
worker that dies is replaced, and a stop signal stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import psutil
import pytest
from net_support import free_port

from runplane.v1 import flow_runs_pb2, flow_runs_pb2_grpc, flows_pb2, flows_pb2_grpc, states_pb2

pytestmark = pytest.mark.timeout(120)

STARTUP_SECONDS = 60.0


def _command(port: int, workers: int) -> list[str]:
    command = [sys.executable, "-m", "runplane.cli", "server", "start", "--port", str(port)]
    return [*command, "--workers", str(workers), "--log-level", "WARNING"]


def _environment(database_url: str, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RUNPLANE_DATABASE_URL": database_url,
        "RUNPLANE_HOME": str(home),
        "RUNPLANE_SERVER_DASHBOARD_ENABLED": "false",
    }


def _listening(supervisor: psutil.Process, port: int) -> set[int]:
    """The pids of the supervisor's children that listen on ``port``."""
    pids = set()
    for child in supervisor.children():
        try:
            connections = child.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections):
            pids.add(child.pid)
    return pids


def _wait_listening(
    supervisor: psutil.Process, port: int, count: int, other_than: set[int] = frozenset()
) -> set[int]:
    """Waits until ``count`` workers, none of ``other_than``, listen on the port."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        pids = _listening(supervisor, port) - other_than
        if len(pids) >= count:
            return pids
        assert supervisor.is_running(), "the server exited while its workers started"
        time.sleep(0.05)
    raise AssertionError(f"{count} workers did not listen on {port} in {STARTUP_SECONDS} s")


@contextmanager
def _server(
    database_url: str, home: Path, workers: int = 2, port: int | None = None
) -> Iterator[tuple[psutil.Process, int]]:
    port = port or free_port()
    process = subprocess.Popen(_command(port, workers), env=_environment(database_url, home))
    supervisor = psutil.Process(process.pid)
    try:
        _wait_listening(supervisor, port, workers)
        yield supervisor, port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def _worker_serving(channel_port: int, supervisor: psutil.Process, port: int) -> int:
    """The pid of the worker at the other end of this process's connection from
    ``channel_port``."""
    for child in supervisor.children():
        for c in child.net_connections(kind="tcp"):
            if c.laddr.port == port and c.raddr and c.raddr.port == channel_port:
                return child.pid
    raise AssertionError(f"no worker holds the connection from port {channel_port}")


def _client_ports(port: int) -> set[int]:
    """Local ports of this process's connections to the server's port."""
    return {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    }


def _channels_by_worker(
    supervisor: psutil.Process, port: int, workers: int
) -> dict[int, grpc.Channel]:
    """One connected channel per worker: new connections until each worker has one (each
    lands on either at random, so 64 leave a chance of 2^-63 to miss one of two)."""
    found: dict[int, grpc.Channel] = {}
    for _ in range(64):
        before = _client_ports(port)
        channel = grpc.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
        )
        flows_pb2_grpc.FlowServiceStub(channel).ListFlows(flows_pb2.ListFlowsRequest(), timeout=30)
        (new,) = _client_ports(port) - before
        worker = _worker_serving(new, supervisor, port)
        if worker in found:
            channel.close()
        else:
            found[worker] = channel
        if len(found) == workers:
            return found
    raise AssertionError(f"64 connections reached only {len(found)} of {workers} workers")


def test_a_change_made_through_one_worker_reaches_a_watch_on_another(
    postgres_url: str, tmp_path: Path
) -> None:
    with _server(postgres_url, tmp_path) as (supervisor, port):
        channels = list(_channels_by_worker(supervisor, port, 2).values())
        try:
            watching, writing = channels
            flows = flows_pb2_grpc.FlowServiceStub(writing)
            flow = flows.CreateFlow(flows_pb2.CreateFlowRequest(name=f"workers-{uuid.uuid4()}"))
            watch = flow_runs_pb2_grpc.FlowRunServiceStub(watching).WatchFlowRuns(
                flow_runs_pb2.WatchFlowRunsRequest(
                    filter=flow_runs_pb2.FlowRunFilter(flow_ids=[flow.flow.id])
                ),
                timeout=60,
            )
            runs = flow_runs_pb2_grpc.FlowRunServiceStub(writing)
            run = runs.CreateFlowRun(flow_runs_pb2.CreateFlowRunRequest(flow_id=flow.flow.id))
            for state_type in (states_pb2.STATE_TYPE_RUNNING, states_pb2.STATE_TYPE_COMPLETED):
                answer = runs.SetFlowRunState(
                    flow_runs_pb2.SetFlowRunStateRequest(
                        flow_run_id=run.flow_run.id,
                        state=states_pb2.State(type=state_type),
                        transition_id=str(uuid.uuid4()),
                    )
                )
                assert answer.result.status == states_pb2.ORCHESTRATION_STATUS_ACCEPT
            seen = []
            for change in watch:
                assert change.flow_run.id == run.flow_run.id
                seen.append(change.state.type)
                if change.state.type == states_pb2.STATE_TYPE_COMPLETED:
                    break
            watch.cancel()
            assert seen[-2:] == [states_pb2.STATE_TYPE_RUNNING, states_pb2.STATE_TYPE_COMPLETED]
        finally:
            for channel in channels:
                channel.close()


def test_a_worker_that_dies_is_replaced_and_the_others_serve_on(
    postgres_url: str, tmp_path: Path
) -> None:
    with _server(postgres_url, tmp_path) as (supervisor, port):
        by_worker = _channels_by_worker(supervisor, port, 2)
        try:
            killed, survivor = list(by_worker)
            os.kill(killed, signal.SIGKILL)
            flows = flows_pb2_grpc.FlowServiceStub(by_worker[survivor])
            # The other worker's connection is untouched.
            flows.CreateFlow(flows_pb2.CreateFlowRequest(name=f"survivor-{uuid.uuid4()}"))
            replaced = _wait_listening(supervisor, port, 2, other_than={killed})
            assert killed not in replaced
            assert len(replaced | {survivor}) == 2
            # New connections reach the new worker too, and it serves them.
            again = _channels_by_worker(supervisor, port, 2)
            assert set(again) == replaced | {survivor}
            for channel in again.values():
                flows_pb2_grpc.FlowServiceStub(channel).ListFlows(flows_pb2.ListFlowsRequest())
                channel.close()
        finally:
            for channel in by_worker.values():
                channel.close()


def test_a_stop_signal_stops_every_worker(postgres_url: str, tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(_command(port, 3), env=_environment(postgres_url, tmp_path))
    supervisor = psutil.Process(process.pid)
    try:
        workers = [psutil.Process(pid) for pid in _wait_listening(supervisor, port, 3)]
    finally:
        process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive
    with socket.create_server(("127.0.0.1", port)):
        pass  # the port is free again


def test_several_workers_need_postgresql(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'runplane.db'}"
    finished = subprocess.run(
        _command(free_port(), 2), env=_environment(url, tmp_path), capture_output=True, text=True
    )
    assert finished.returncode == 2
    assert "RUNPLANE_SERVER_WORKERS above 1 needs PostgreSQL" in finished.stderr


def test_workers_refuse_a_port_another_program_holds(postgres_url: str, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0), reuse_port=True) as held:
        port = held.getsockname()[1]
        finished = subprocess.run(
            _command(port, 2),
            env=_environment(postgres_url, tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert finished.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in finished.stderr


def test_a_keyboard_interrupt_stops_every_worker(postgres_url: str, tmp_path: Path) -> None:
    """Ctrl-C reaches the supervisor and its workers alike (one process group)."""
    port = free_port()
    process = subprocess.Popen(
        _command(port, 2), env=_environment(postgres_url, tmp_path), start_new_session=True
    )
    supervisor = psutil.Process(process.pid)
    try:
        workers = [psutil.Process(pid) for pid in _wait_listening(supervisor, port, 2)]
    finally:
        os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) == 0
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive


def test_a_worker_that_cannot_start_stops_the_server(postgres_url: str, tmp_path: Path) -> None:
    """The first worker serves the dashboard too: its port held, that worker cannot start."""
    environment = _environment(postgres_url, tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as held:
        environment["RUNPLANE_SERVER_DASHBOARD_ENABLED"] = "true"
        environment["RUNPLANE_SERVER_DASHBOARD_PORT"] = str(held.getsockname()[1])
        finished = subprocess.run(
            _command(free_port(), 2), env=environment, capture_output=True, text=True, timeout=90
        )
    assert finished.returncode == 1
    assert "already in use" in finished.stderr
    assert "worker 0 failed to start (exit code 1)" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_settings_every_worker_needs_are_checked_before_any_starts(
    postgres_url: str, tmp_path: Path
) -> None:
    environment = _environment(postgres_url, tmp_path)
    environment["RUNPLANE_SERVER_TLS_CERT"] = str(tmp_path / "missing-cert.pem")
    environment["RUNPLANE_SERVER_TLS_KEY"] = str(tmp_path / "missing-key.pem")
    finished = subprocess.run(
        _command(free_port(), 2), env=environment, capture_output=True, text=True, timeout=90
    )
    assert finished.returncode == 2
    assert "RUNPLANE_SERVER_TLS_CERT: cannot read" in finished.stderr
    assert "failed to start" not in finished.stderr


def test_workers_end_when_their_supervisor_is_killed(postgres_url: str, tmp_path: Path) -> None:
    """A worker left serving would hold the port against the server started again."""
    port = free_port()
    process = subprocess.Popen(_command(port, 2), env=_environment(postgres_url, tmp_path))
    supervisor = psutil.Process(process.pid)
    try:
        workers = [psutil.Process(pid) for pid in _wait_listening(supervisor, port, 2)]
    finally:
        process.kill()
        process.wait(timeout=60)
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive
    with _server(postgres_url, tmp_path, port=port) as (_, bound):
        assert bound == port  # a server started again gets the port
