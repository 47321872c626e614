"""Round trips of the control plane: create a flow run, then propose RUNNING and COMPLETED.

Starts ``runplane server start`` in its own process on SQLite and on PostgreSQL, drives
it from this process with 1, 8 and 32 concurrent clients for a few seconds each, and
prints completed flow runs per second, accepted transitions per second and latency of
one whole run. Each client makes the same three calls two ways: through the generated
stubs (``raw``) and through its own ``RunplaneClient`` (``typed``), the SDK's models and
conversions included. When ``pgbench`` is installed it also measures PostgreSQL's own
commit rate on this machine with 32 clients, the physical ceiling for durable writes.

    .venv/bin/python bench/rpc.py [--seconds 5] [--clients 1 8 32] [--backends sqlite postgres]
        [--clients-kind raw typed] [--server-workers 1] [--retention-backlog N [--rounds 2]]

``--server-workers N`` serves PostgreSQL with N processes on one port (``runplane server start
--workers N``); the server CPU column then counts all of them.

With ``--retention-backlog N`` it measures instead what deleting old runs costs the round
trips: the database first gets N flow runs that finished 31 days ago (inserted with SQL, see
``backlog.py``), then the raw clients (the most of ``--clients``) run against a server that
keeps every run, and against one started with ``run_retention_days`` 30 and a retention
pass every second, which deletes that backlog while they run. The two alternate over
``--rounds`` rounds, the backlog topped up to N before each, each on a fresh server process.

PostgreSQL comes from RUNPLANE_BENCH_POSTGRES_URL (default: postgres on 127.0.0.1:5432);
the benchmark creates and drops a database of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import backlog
import grpc
import psutil
import psycopg
from bench_servers import database, libpq, process_tree_cpu, server_process
from rich.console import Console
from rich.table import Table

from runplane import OrchestrationStatus, RunplaneClient, Settings, State, StateType
from runplane.v1 import flow_runs_pb2, flow_runs_pb2_grpc, flows_pb2, flows_pb2_grpc, states_pb2

RUNNING = states_pb2.State(type=states_pb2.STATE_TYPE_RUNNING)
COMPLETED = states_pb2.State(type=states_pb2.STATE_TYPE_COMPLETED)
ACCEPT = states_pb2.ORCHESTRATION_STATUS_ACCEPT


@dataclass
class Result:
    backend: str
    kind: str
    clients: int
    runs_per_second: float
    transitions_per_second: float
    p50_ms: float
    p99_ms: float
    client_cpu_ms: float
    server_cpu_ms: float
    server_workers: int = 1
    # With a backlog: whether retention ran, and how many old runs it deleted per second.
    retention: str = ""
    deleted_per_second: float = 0.0
    backlog_left: int = 0


async def _one_run(stub: flow_runs_pb2_grpc.FlowRunServiceStub, flow_id: str) -> None:
    created = await stub.CreateFlowRun(flow_runs_pb2.CreateFlowRunRequest(flow_id=flow_id))
    run_id = created.flow_run.id
    for state in (RUNNING, COMPLETED):
        answer = await stub.SetFlowRunState(
            flow_runs_pb2.SetFlowRunStateRequest(
                flow_run_id=run_id, state=state, transition_id=str(uuid.uuid4())
            )
        )
        if answer.result.status != ACCEPT:
            raise RuntimeError(f"proposal not accepted: {answer.result}")


TYPED_RUNNING = State(type=StateType.RUNNING)
TYPED_COMPLETED = State(type=StateType.COMPLETED)


async def _one_typed_run(client: RunplaneClient, flow_id: uuid.UUID) -> None:
    run = await client.create_flow_run(flow_id)
    for state in (TYPED_RUNNING, TYPED_COMPLETED):
        result = await client.set_flow_run_state(run.id, state)
        if result.status is not OrchestrationStatus.ACCEPT:
            raise RuntimeError(f"proposal not accepted: {result}")


async def _client_loop(
    one_run: Callable[[], Awaitable[None]], until: float, latencies: list[float]
) -> None:
    while (started := time.perf_counter()) < until:
        await one_run()
        latencies.append(time.perf_counter() - started)


@dataclass
class Sample:
    """What one measurement saw: each run's latency, and the wall and CPU seconds it took."""

    latencies: list[float]
    elapsed: float
    client_cpu: float
    server_cpu: float


async def _drive(
    runs: list[Callable[[], Awaitable[None]]], seconds: float, server: psutil.Process
) -> Sample:
    """Warms up, then runs every client's loop for ``seconds``."""
    warmup = time.perf_counter() + min(1.0, seconds / 5)
    await asyncio.gather(*(_client_loop(run, warmup, []) for run in runs))
    latencies: list[float] = []
    server_cpu, client_cpu = process_tree_cpu(server), time.process_time()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(_client_loop(run, until, latencies) for run in runs))
    return Sample(
        latencies,
        time.perf_counter() - started,
        time.process_time() - client_cpu,
        process_tree_cpu(server) - server_cpu,
    )


async def measure_raw(
    address: str, server: psutil.Process, backend: str, clients: int, seconds: float
) -> Result:
    """Clients on the generated stubs; they share up to four channels."""
    # Several channels, so that the HTTP/2 connection is not the bottleneck.
    channels = [grpc.aio.insecure_channel(address) for _ in range(min(clients, 4))]
    try:
        flows = flows_pb2_grpc.FlowServiceStub(channels[0])
        flow = await flows.CreateFlow(flows_pb2.CreateFlowRequest(name=f"bench-raw-{clients}"))
        stubs = [flow_runs_pb2_grpc.FlowRunServiceStub(channel) for channel in channels]
        runs = [
            functools.partial(_one_run, stubs[i % len(stubs)], flow.flow.id) for i in range(clients)
        ]
        sample = await _drive(runs, seconds, server)
    finally:
        for channel in channels:
            await channel.close()
    return _result(backend, "raw", clients, sample)


async def measure_typed(
    address: str, server: psutil.Process, backend: str, clients: int, seconds: float
) -> Result:
    """Clients on the SDK's typed client, one ``RunplaneClient`` each, as separate programs
    would have."""
    settings = Settings(api_url=address)
    async with contextlib.AsyncExitStack() as stack:
        typed = [await stack.enter_async_context(RunplaneClient(settings)) for _ in range(clients)]
        flow = await typed[0].create_flow(f"bench-typed-{clients}")
        runs = [functools.partial(_one_typed_run, client, flow.id) for client in typed]
        sample = await _drive(runs, seconds, server)
    return _result(backend, "typed", clients, sample)


MEASURES = {"raw": measure_raw, "typed": measure_typed}


def _result(backend: str, kind: str, clients: int, sample: Sample) -> Result:
    latencies, elapsed = sorted(sample.latencies), sample.elapsed
    runs = len(latencies)
    return Result(
        backend=backend,
        kind=kind,
        clients=clients,
        runs_per_second=runs / elapsed,
        transitions_per_second=2 * runs / elapsed,
        p50_ms=1000 * statistics.median(latencies),
        p99_ms=1000 * latencies[min(runs - 1, int(runs * 0.99))],
        client_cpu_ms=1000 * sample.client_cpu / runs,
        server_cpu_ms=1000 * sample.server_cpu / runs,
    )


def pgbench_commits_per_second(database_url: str, clients: int, seconds: float) -> float | None:
    """PostgreSQL's durable commit rate here: one-row INSERT transactions from ``clients``."""
    if shutil.which("pgbench") is None:
        return None
    connection_string = libpq(database_url)
    with psycopg.connect(connection_string, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_commit (id bigserial, v int)")
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write("INSERT INTO bench_commit (v) VALUES (1);\n")
        script.flush()
        command = ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(int(seconds))]
        finished = subprocess.run(
            [*command, "-f", script.name, connection_string], capture_output=True, text=True
        )
    if finished.returncode != 0:
        # Usually a server out of connections on a shared machine: keep the other results.
        print(f"pgbench failed: {finished.stderr.strip()[-300:]}")
        return None
    for line in finished.stdout.splitlines():
        if line.startswith("tps"):
            return float(line.split("=")[1].split()[0])
    return None


RETENTION_DAYS = 30.0
RETAINING = {
    "RUNPLANE_SERVER_RUN_RETENTION_DAYS": str(RETENTION_DAYS),
    "RUNPLANE_SERVER_RETENTION_INTERVAL": "1",
}


def measure_with_backlog(
    backend: str, home: Path, runs: int, clients: int, seconds: float, rounds: int
) -> list[Result]:
    """Rounds of the raw clients with and without retention deleting a backlog of ``runs``
    old runs, in alternating order; the backlog is topped up to ``runs`` before each."""
    results: list[Result] = []
    with database(backend, home) as url:
        for round_ in range(rounds):
            for retaining in (False, True) if round_ % 2 == 0 else (True, False):
                asyncio.run(backlog.fill(url, runs, RETENTION_DAYS))
                settings = RETAINING if retaining else {}
                started = time.perf_counter()
                with server_process(url, home, settings=settings) as (address, pid):
                    measure = measure_raw(address, psutil.Process(pid), backend, clients, seconds)
                    result = _run(measure)
                    elapsed = time.perf_counter() - started
                left = asyncio.run(backlog.count(url, RETENTION_DAYS))
                result.retention = "deleting" if retaining else "off"
                result.deleted_per_second = (runs - left) / elapsed
                result.backlog_left = left
                results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--clients-kind", nargs="+", default=["raw", "typed"], choices=MEASURES)
    parser.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="server processes sharing the port (`server start --workers`; PostgreSQL only)",
    )
    parser.add_argument("--retention-backlog", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: list[Result] = []
    pgbench: float | None = None
    if args.retention_backlog:
        with tempfile.TemporaryDirectory() as home:
            for backend in args.backends:
                results += measure_with_backlog(
                    backend,
                    Path(home),
                    args.retention_backlog,
                    max(args.clients),
                    args.seconds,
                    args.rounds,
                )
        _print_retention(results, args.retention_backlog)
        return
    with tempfile.TemporaryDirectory() as home:
        for backend in args.backends:
            workers = args.server_workers if backend == "postgres" else 1
            with (
                database(backend, Path(home)) as url,
                server_process(url, Path(home), workers=workers) as (address, pid),
            ):
                server = psutil.Process(pid)
                for clients in args.clients:
                    for kind in args.clients_kind:
                        measure = MEASURES[kind](address, server, backend, clients, args.seconds)
                        results.append(replace(_run(measure), server_workers=workers))
                if backend == "postgres":
                    pgbench = pgbench_commits_per_second(url, 32, args.seconds)
    _print(results, pgbench)


def _run(coroutine: Coroutine[Any, Any, Result]) -> Result:
    """Runs the clients on uvloop when installed, so that they leave more CPU to the server."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _print(results: list[Result], pgbench: float | None) -> None:
    table = Table(title="create flow run + RUNNING + COMPLETED")
    columns = ("database", "workers", "client", "clients", "runs/s", "transitions/s", "p50 ms")
    columns = (*columns, "p99 ms")
    for column in (*columns, "client CPU ms/run", "server CPU ms/run"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            r.backend,
            str(r.server_workers),
            r.kind,
            str(r.clients),
            f"{r.runs_per_second:,.0f}",
            f"{r.transitions_per_second:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.client_cpu_ms:.2f}",
            f"{r.server_cpu_ms:.2f}",
        )
    console = Console(width=160)
    console.print(table)
    if pgbench is not None:
        console.print(f"pgbench, 32 clients, one-row INSERT per commit: {pgbench:,.0f} commits/s")
    else:
        console.print("pgbench not installed: PostgreSQL's own commit rate not measured")


def _print_retention(results: list[Result], runs: int) -> None:
    table = Table(title=f"create flow run + RUNNING + COMPLETED, {runs:,} old runs in the backlog")
    columns = ("database", "retention", "clients", "runs/s", "p50 ms", "p99 ms")
    for column in (*columns, "server CPU ms/run", "old runs deleted/s", "backlog left"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            r.backend,
            r.retention,
            str(r.clients),
            f"{r.runs_per_second:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.server_cpu_ms:.2f}",
            f"{r.deleted_per_second:,.0f}",
            f"{r.backlog_left:,}",
        )
    console = Console(width=160)
    console.print(table)
    for backend in dict.fromkeys(r.backend for r in results):
        rates = {
            kind: statistics.mean(
                r.runs_per_second for r in results if (r.backend, r.retention) == (backend, kind)
            )
            for kind in ("off", "deleting")
        }
        change = 100 * (rates["deleting"] / rates["off"] - 1)
        console.print(f"{backend}: {change:+.1f}% runs/s while retention deletes (mean of rounds)")


if __name__ == "__main__":
    main()
