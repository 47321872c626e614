"""Hostile and odd requests to every RPC, longer than the test suite's run of the same cases.

Starts ``runplane server start`` in its own process on SQLite and on PostgreSQL, sends it
generated requests (the generator of tests/fuzz_requests.py), and prints, per method, the cases
sent and the status codes seen, then every INTERNAL or UNKNOWN answer with the case number that
rebuilds its request, the server's memory before and after, and its health at the end.

    .venv/bin/python bench/fuzz.py [--cases 50000] [--seconds 1800] [--seed 1]
        [--backends sqlite postgres]

The server's warnings and errors go to fuzz-<backend>.log in the working directory. Exits 1
when any answer was a server failure or the server was not healthy at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import grpc
import psutil
from bench_servers import database, server_process
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from rich.table import Table

# The generator and the sender live with the test that runs them on every CI build.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz_support import Report, fuzz

MEGABYTE = 1024 * 1024


async def _healthy(address: str) -> bool:
    async with grpc.aio.insecure_channel(address) as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=30
        )
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def _table(backend: str, report: Report) -> Table:
    table = Table(title=f"{backend}: {report.cases} cases, seed {report.seed}")
    table.add_column("method")
    table.add_column("cases", justify="right")
    table.add_column("codes seen")
    for method, seen in sorted(report.codes.items()):
        codes = ", ".join(f"{code} {count}" for code, count in seen.most_common())
        table.add_row(method.removeprefix("/runplane.v1."), str(sum(seen.values())), codes)
    return table


def run(backend: str, arguments: argparse.Namespace, console: Console) -> bool:
    """Fuzzes a server on ``backend``; whether it never failed and stayed healthy."""
    log_path = Path(f"fuzz-{backend}.log")
    with (
        tempfile.TemporaryDirectory() as home,
        database(backend, Path(home)) as url,
        log_path.open("w") as log,
        server_process(url, Path(home), log) as (address, pid),
    ):
        before = psutil.Process(pid).memory_info().rss
        report = asyncio.run(
            fuzz(address, seed=arguments.seed, cases=arguments.cases, seconds=arguments.seconds)
        )
        after = psutil.Process(pid).memory_info().rss
        healthy = asyncio.run(_healthy(address))
    console.print(_table(backend, report))
    for failure in report.failures:
        console.print(str(failure), markup=False)
    console.print(
        f"{backend}: {len(report.failures)} INTERNAL or UNKNOWN answers; server RSS "
        f"{before / MEGABYTE:.0f} MB -> {after / MEGABYTE:.0f} MB; "
        f"{'SERVING' if healthy else 'NOT SERVING'} at the end; server log: {log_path}"
    )
    return healthy and not report.failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=1800.0, help="stop sending after this")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    arguments = parser.parse_args()
    console = Console()
    results = [run(backend, arguments, console) for backend in arguments.backends]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
