"""Generated hostile requests to every RPC of a server process: never a server failure.

The server runs as ``runplane server start`` in its own process, so that its memory is its own.
The run is bounded by a number of cases and by time; a failure names its method and case number,
which with the seed rebuild the request (``bench/fuzz.py --seed S`` runs more of them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest
from fuzz_support import fuzz
from grpc_health.v1 import health_pb2, health_pb2_grpc
from net_support import free_port

SEED = 20240601
CASES = 4000
SECONDS = 35.0
WARM_UP_CASES = 300
# Caches, pools and allocator arenas grow at first; growth past this after warming up is a leak.
RSS_GROWTH_BYTES = 200 * 1024 * 1024

pytestmark = pytest.mark.anyio


@pytest.fixture
def server_process(private_database_url: str, tmp_path: Path) -> Iterator[tuple[int, str]]:
    """``runplane server start`` on the test's database: its pid and address."""
    port = free_port()
    env = {
        **os.environ,
        "RUNPLANE_HOME": str(tmp_path),
        "RUNPLANE_DATABASE_URL": private_database_url,
    }
    command = [sys.executable, "-m", "runplane.cli", "server", "start", "--port", str(port)]
    with (
        (tmp_path / "server.log").open("w") as log,
        subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT) as process,
    ):
        try:
            address = f"127.0.0.1:{port}"
            with grpc.insecure_channel(address) as channel:
                grpc.channel_ready_future(channel).result(timeout=60)
            yield process.pid, address
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.timeout(180)
async def test_no_request_makes_the_server_fail(server_process: tuple[int, str]) -> None:
    pid, address = server_process
    warm_up = await fuzz(address, seed=SEED + 1, cases=WARM_UP_CASES, seconds=SECONDS / 4)
    before = psutil.Process(pid).memory_info().rss

    report = await fuzz(address, seed=SEED, cases=CASES, seconds=SECONDS)

    after = psutil.Process(pid).memory_info().rss
    failures = [*warm_up.failures, *report.failures]
    assert not failures, (
        f"{len(failures)} server failures in {warm_up.cases + report.cases} cases "
        f"(warm-up seed {warm_up.seed}, seed {report.seed}):\n"
        + "\n".join(str(failure) for failure in failures)
    )
    assert report.cases >= 100, f"only {report.cases} cases ran"
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=30
        )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert after - before < RSS_GROWTH_BYTES, f"RSS grew from {before} to {after} bytes"
