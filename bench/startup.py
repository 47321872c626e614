"""Start-up times, each in a new process: a server until it reports SERVING, and a first flow.

Measures ``runplane server start`` on an already-migrated database (SQLite and PostgreSQL),
from spawning the process until its gRPC health check answers SERVING, and a script that
imports ``runplane``, defines a ``@flow`` and calls it once on the embedded default (no
``RUNPLANE_API_URL``: the process starts a server on the SQLite database of
``RUNPLANE_HOME`` itself, already migrated), from spawning the process until the call
returns. Prints the median and fastest wall time of ``--repeat`` runs of each, in seconds,
with the median CPU time (user + system) of the processes. They run with their bytecode
cached (in a temporary ``PYTHONPYCACHEPREFIX``), as an installed package's is.

    .venv/bin/python bench/startup.py [--repeat 5] [--backends sqlite postgres]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from bench_servers import database, free_port
from grpc_health.v1 import health_pb2, health_pb2_grpc
from process_timing import Timing, children_cpu, print_timings

FIRST_FLOW = """
import sys, time
from runplane import flow

@flow
def hello() -> int:
    return 1

hello()
print(time.time(), file=sys.stderr)
"""
DEADLINE = 60.0
# Reconnect at once while the server is not listening yet: gRPC's default backoff (1 s and
# growing) would be counted as start-up time.
FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 10),
    ("grpc.min_reconnect_backoff_ms", 10),
    ("grpc.max_reconnect_backoff_ms", 10),
]


def _serving(address: str, until: float) -> None:
    """Returns once the server at ``address`` answers SERVING; polls, since it is not up yet."""
    request = health_pb2.HealthCheckRequest()
    with grpc.insecure_channel(address, FAST_RECONNECT) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < until:
            try:
                answer = health.Check(request, timeout=0.5, wait_for_ready=True)
            except grpc.RpcError:
                continue
            if answer.status == health_pb2.HealthCheckResponse.SERVING:
                return
            time.sleep(0.005)
    raise TimeoutError(f"the server at {address} did not report SERVING")


def server_start(database_url: str, home: Path, env: dict[str, str]) -> Timing:
    """Spawns ``runplane server start`` and times it until SERVING; then stops it."""
    port = free_port()
    env = {**env, "RUNPLANE_DATABASE_URL": database_url, "RUNPLANE_HOME": str(home)}
    command = [sys.executable, "-m", "runplane.cli", "server", "start", "--port", str(port)]
    cpu = children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--log-level", "WARNING"], env=env, stdout=subprocess.DEVNULL
    )
    try:
        _serving(f"127.0.0.1:{port}", time.monotonic() + DEADLINE)
        wall = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
    return Timing(wall, children_cpu() - cpu)


def first_flow(script: Path, env: dict[str, str]) -> Timing:
    """Runs ``FIRST_FLOW`` in a new process; wall time until its call returned."""
    cpu = children_cpu()
    started = time.time()
    process = subprocess.run(
        [sys.executable, str(script)], env=env, check=True, capture_output=True, text=True
    )
    returned = float(process.stderr.strip().splitlines()[-1])
    return Timing(returned - started, children_cpu() - cpu)


def repeat(start: Callable[[], Timing], times: int) -> list[Timing]:
    start()  # compiles the bytecode; creates and migrates a new database
    return [start() for _ in range(times)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="starts of each kind")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    results: list[tuple[str, list[Timing]]] = []
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        base = {k: v for k, v in os.environ.items() if not k.startswith("RUNPLANE_")}
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        base["PYTHONPYCACHEPREFIX"] = str(home / "bytecode")
        for backend in args.backends:
            with database(backend, home) as url:
                timings = repeat(lambda: server_start(url, home / "server", base), args.repeat)
                results.append((f"server start to SERVING ({backend})", timings))
        script = home / "first_flow.py"
        script.write_text(FIRST_FLOW)
        embedded = {**base, "RUNPLANE_HOME": str(home / "embedded")}
        results.append(
            (
                "first @flow call (embedded)",
                repeat(lambda: first_flow(script, embedded), args.repeat),
            )
        )
    print_timings(f"start-up times, {args.repeat} runs each (s)", "what", results)


if __name__ == "__main__":
    main()
