"""What the benchmarks share: a database of their own and a ``runplane server start`` process.

PostgreSQL comes from RUNPLANE_BENCH_POSTGRES_URL (default: postgres on 127.0.0.1:5432); each
benchmark creates and drops a database of its own there.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import grpc
import psutil
import psycopg
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get(
    "RUNPLANE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def quantile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``values`` (``q`` from 0 to 1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def libpq(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string, for psycopg and pgbench."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"runplane_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(backend: str, home: Path) -> Iterator[str]:
    """A fresh database: ``postgres``, or a SQLite file in ``home``."""
    if backend == "postgres":
        with postgres_database() as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{home / f'bench-{uuid.uuid4().hex[:8]}.db'}"


@contextmanager
def running_server(database_url: str, home: Path) -> Iterator[str]:
    """A server process on ``database_url``; its address once it serves."""
    with server_process(database_url, home) as (address, _):
        yield address


@contextmanager
def server_process(
    database_url: str,
    home: Path,
    log: IO[str] | None = None,
    workers: int = 1,
    settings: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, int]]:
    """A server process on ``database_url``, with ``workers`` processes serving; its address
    and pid once every worker serves. Its warnings and errors go to ``log`` when given;
    ``settings`` are more environment variables."""
    port = free_port()
    env = {**os.environ, "RUNPLANE_DATABASE_URL": database_url, "RUNPLANE_HOME": str(home)}
    env.update(settings or {})
    # The API alone: several servers run at once, and the dashboard would want one port.
    env["RUNPLANE_SERVER_DASHBOARD_ENABLED"] = "false"
    command = [sys.executable, "-m", "runplane.cli", "server", "start", "--port", str(port)]
    command += ["--log-level", "WARNING"]
    if workers > 1:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=env, stdout=log or subprocess.DEVNULL, stderr=log)
    address = f"127.0.0.1:{port}"
    try:
        asyncio.run(_wait_until_serving(address))
        if workers > 1:
            _wait_for_workers(process.pid, port, workers)
        yield address, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print("the server did not stop within 15 s of SIGTERM; killed", file=sys.stderr)
            process.kill()
            process.wait()


def _wait_for_workers(pid: int, port: int, workers: int, within: float = 60.0) -> None:
    """Waits until ``workers`` children of ``pid`` listen on ``port``."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        listening = 0
        for child in psutil.Process(pid).children():
            with contextlib.suppress(psutil.Error):
                connections = child.net_connections(kind="tcp")
                listening += any(c.status == "LISTEN" and c.laddr.port == port for c in connections)
        if listening >= workers:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{workers} server workers did not listen on {port} within {within} s")


def process_tree_cpu(process: psutil.Process) -> float:
    """CPU seconds of a process and its children (a server's workers)."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            total += times.user + times.system
    return total


async def _wait_until_serving(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel, asyncio.timeout(30):
        await channel.channel_ready()


START_TIMEOUT = 120.0


def wait_for(ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    """Waits until ``ready()``; fails when ``process`` exits first or after two minutes."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {START_TIMEOUT:.0f} s")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def logged_process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running with its output in ``log``, terminated when the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def clean_env() -> dict[str, str]:
    """This environment without runplane's and Prefect's settings."""
    drop = ("RUNPLANE_", "PREFECT_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@contextmanager
def prefect_server(python: str, home: Path) -> Iterator[str]:
    """``prefect server start`` of the Prefect installed beside ``python``, home in ``home``;
    its API URL once it answers."""
    port = free_port()
    env = {**clean_env(), "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    prefect = str(Path(python).parent / "prefect")
    command = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with logged_process(command, env, home / "server.log") as process:
        api = f"http://127.0.0.1:{port}/api"
        wait_for(lambda: http_ok(f"{api}/health"), process, "prefect server")
        yield api
