"""Delay from a run's due time to its runner: the assignment, then the flow body's first line.

Starts ``runplane server start`` in its own process on SQLite and on PostgreSQL and, for
runs created due now and runs scheduled a second ahead (created one at a time, spaced so
that each is measured alone), measures the delay from the due time to

(a) a subscriber receiving the assignment: a SubscribeWork stream driven from this process
    with raw stubs, which is what a runner sees;
(b) the first line of the flow body: a real ``runplane runner start`` process runs a flow
    whose first line appends ``time.time()`` and the run id to a file.

Then a burst: 20 runs created at once for a runner with ``--limit 20``, timed until all 20
are in their bodies. Due times are the scheduled time of runs created ahead, and the state
timestamp written at creation for runs due now.

    .venv/bin/python bench/delivery.py [--runs 100] [--spacing 0.05] [--body-runs 100]
                                       [--body-spacing 0.25] [--backends sqlite postgres]

PostgreSQL comes from RUNPLANE_BENCH_POSTGRES_URL (default: postgres on 127.0.0.1:5432);
the benchmark creates and drops a database of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from bench_servers import database, quantile, running_server
from rich.console import Console
from rich.table import Table

from runplane.v1 import deployments_pb2, deployments_pb2_grpc, work_pb2, work_pb2_grpc

BURST = 20
AHEAD = 1.0
FLOW_SOURCE = """
import os
import time

from runplane import flow


def append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@flow
def stamp(path: str) -> None:
    append(path, f"{time.time()!r} {os.environ['RUNPLANE_FLOW_RUN_ID']}\\n")
"""

TARGETS: dict[str, str] = {
    "assignment": "p99 < 50 ms",
    "flow body": "p50 < 500 ms, p99 < 1000 ms",
    "burst": f"all {BURST} < 2000 ms",
}


@dataclass
class Row:
    backend: str
    what: str
    kind: str
    delays: list[float]
    expected: int


# --- processes and databases ------------------------------------------------------------------


@contextmanager
def runner_process(address: str, home: Path, pool: str) -> Iterator[None]:
    """A ``runplane runner start`` process, yielded once it has subscribed."""
    env = {**os.environ, "RUNPLANE_API_URL": address, "RUNPLANE_HOME": str(home)}
    env |= {"COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "runplane.cli", "runner", "start", "--pool", pool]
    command += ["--limit", str(BURST), "--name", "bench-runner"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "runner subscribed" in line:
                break
        else:
            raise RuntimeError("the runner exited before it subscribed")
        # Keep reading so that the runner never blocks on a full pipe.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- runs ---------------------------------------------------------------------------------


async def create_deployment(
    channel: grpc.aio.Channel, pool: str, entrypoint: str, path: Path
) -> str:
    deployment = deployments_pb2.Deployment(
        name=f"bench-{uuid.uuid4().hex[:8]}",
        flow_name="stamp",
        entrypoint=entrypoint,
        work_pool_name=pool,
        parameters_json=json.dumps({"path": str(path)}),
    )
    stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
    created = await stub.CreateDeployment(
        deployments_pb2.CreateDeploymentRequest(deployment=deployment)
    )
    return created.deployment.id


async def run_deployment(
    channel: grpc.aio.Channel, deployment_id: str, ahead: float
) -> tuple[str, float]:
    """Creates a run due now (``ahead`` 0) or ``ahead`` seconds from now; its id and due time."""
    request = deployments_pb2.RunDeploymentRequest(deployment_id=deployment_id)
    due: float | None = None
    if ahead:
        due = time.time() + ahead
        request.scheduled_start_time.FromDatetime(datetime.fromtimestamp(due, UTC))
    stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
    run = (await stub.RunDeployment(request)).flow_run
    if due is None:
        due = run.state.timestamp.ToDatetime(UTC).timestamp()
    return run.id, due


async def create_spaced(
    channel: grpc.aio.Channel, deployment_id: str, runs: int, spacing: float
) -> dict[str, dict[str, float]]:
    """Interleaves runs due now and runs due ``AHEAD`` s later, so due times are spacing/2 apart."""
    due: dict[str, dict[str, float]] = {kind: {} for kind, _ in due_kinds()}
    start = time.monotonic() + 0.1
    for i in range(runs):
        for offset, (kind, ahead) in enumerate(due_kinds()):
            at = start + (2 * i + offset) * spacing / 2
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            run_id, when = await run_deployment(channel, deployment_id, ahead)
            due[kind][run_id] = when
    return due


def due_kinds() -> list[tuple[str, float]]:
    return [("due now", 0.0), (f"{AHEAD:.0f} s ahead", AHEAD)]


def _bodies(path: Path) -> dict[str, float]:
    """When each run's flow body began, from the lines its first statement appended."""
    if not path.exists():
        return {}
    started: dict[str, float] = {}
    for line in path.read_text().splitlines():
        at, run_id = line.split()
        started.setdefault(run_id, float(at))
    return started


async def _until(done: Callable[[], bool], within: float) -> None:
    """Waits until ``done`` holds or ``within`` seconds passed (then the row shows the missing)."""
    deadline = time.monotonic() + within
    # Another process writes the flow bodies' file: there is nothing to wait on but the file.
    while not done() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


def _rows(
    backend: str, what: str, due: dict[str, dict[str, float]], seen: dict[str, float]
) -> list[Row]:
    return [
        Row(backend, what, kind, [seen[i] - at for i, at in runs.items() if i in seen], len(runs))
        for kind, runs in due.items()
    ]


# --- the measurements ---------------------------------------------------------------------


async def measure_assignments(address: str, backend: str, runs: int, spacing: float) -> list[Row]:
    pool = f"bench-subscriber-{uuid.uuid4().hex[:8]}"
    received: dict[str, float] = {}
    async with grpc.aio.insecure_channel(address) as channel:
        deployment_id = await create_deployment(channel, pool, "flow.py:stamp", Path("unused"))
        stream = work_pb2_grpc.WorkServiceStub(channel).SubscribeWork(
            work_pb2.SubscribeWorkRequest(
                work_pool_name=pool, runner_name="bench-subscriber", free_slots=2 * runs + 10
            )
        )
        await stream.read()  # SubscriptionStarted

        async def read() -> None:
            while True:
                item = await stream.read()
                if not isinstance(item, work_pb2.SubscribeWorkResponse):
                    return  # the end of the stream
                if item.WhichOneof("item") == "assignment":
                    received.setdefault(item.assignment.flow_run.id, time.time())

        reader = asyncio.create_task(read())
        due = await create_spaced(channel, deployment_id, runs, spacing)
        await _until(lambda: len(received) >= 2 * runs, AHEAD + 5.0)
        reader.cancel()
        stream.cancel()
    return _rows(backend, "assignment", due, received)


async def measure_bodies(
    address: str, backend: str, runs: int, spacing: float, pool: str, entrypoint: str, home: Path
) -> list[Row]:
    spaced, burst = home / f"spaced-{pool}.txt", home / f"burst-{pool}.txt"
    async with grpc.aio.insecure_channel(address) as channel:
        deployment_id = await create_deployment(channel, pool, entrypoint, spaced)
        due = await create_spaced(channel, deployment_id, runs, spacing)
        await _until(lambda: len(_bodies(spaced)) >= 2 * runs, AHEAD + 20.0)
        rows = _rows(backend, "flow body", due, _bodies(spaced))
        deployment_id = await create_deployment(channel, pool, entrypoint, burst)
        started = time.time()
        created = await asyncio.gather(
            *(run_deployment(channel, deployment_id, 0.0) for _ in range(BURST))
        )
        await _until(lambda: len(_bodies(burst)) >= BURST, 20.0)
    bodies = _bodies(burst)
    delays = [bodies[run_id] - started for run_id, _ in created if run_id in bodies]
    return [*rows, Row(backend, "burst", f"{BURST} at once, --limit {BURST}", delays, BURST)]


def measure(backend: str, home: Path, args: argparse.Namespace) -> list[Row]:
    flow_file = home / "bench_flow.py"
    flow_file.write_text(FLOW_SOURCE)
    pool = f"bench-runner-{uuid.uuid4().hex[:8]}"
    with database(backend, home) as url, running_server(url, home) as address:
        rows = _run(measure_assignments(address, backend, args.runs, args.spacing))
        with runner_process(address, home, pool):
            rows += _run(
                measure_bodies(
                    address,
                    backend,
                    args.body_runs,
                    args.body_spacing,
                    pool,
                    f"{flow_file}:stamp",
                    home,
                )
            )
    return rows


def _run(coroutine: Awaitable[list[Row]]) -> list[Row]:
    async def wrapped() -> list[Row]:
        return await coroutine

    return asyncio.run(wrapped())


# --- the table ----------------------------------------------------------------------------


def _print(rows: list[Row]) -> None:
    table = Table(title="delay from due time to the runner, ms (runs measured one at a time)")
    for column in ("database", "until", "runs", "n", "p50", "p90", "p99", "max", "target"):
        table.add_column(
            column, justify="left" if column in ("until", "runs", "target") else "right"
        )
    for row in rows:
        values = sorted(1000 * d for d in row.delays)
        stats = (
            [f"{quantile(values, q):,.1f}" for q in (0.5, 0.9, 0.99, 1.0)] if values else ["-"] * 4
        )
        n = f"{len(values)}/{row.expected}"
        table.add_row(row.backend, row.what, row.kind, n, *stats, TARGETS[row.what])
    Console(width=max(140, Console().width)).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="runs of each kind")
    parser.add_argument("--spacing", type=float, default=0.05, help="s between runs, assignments")
    # Runs a quarter of a second apart: each body (a forked process, tens of ms) is measured
    # alone, and the whole script stays near two minutes.
    parser.add_argument("--body-runs", type=int, default=100, help="runs of each kind, bodies")
    parser.add_argument("--body-spacing", type=float, default=0.25, help="s between runs, bodies")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as home:
        for backend in args.backends:
            rows += measure(backend, Path(home), args)
    _print(rows)


if __name__ == "__main__":
    main()
