"""How long one transaction of run retention takes: a batch of old finished runs deleted with
their states, on a table of many runs.

Fills a fresh database with ``--runs`` flow runs that finished 31 days ago (``backlog.py``),
then deletes batches of each ``--batch`` size through the server's own ``Retention`` (one
batch a pass), timing each, and prints the median and slowest batch and the runs deleted per
second of batch time.

    .venv/bin/python bench/retention.py [--runs 1000000] [--batch 250 500 1000]
        [--batches 20] [--backends sqlite postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import backlog
from bench_servers import database
from rich.console import Console
from rich.table import Table

from runplane.server.db.engine import Database
from runplane.server.loops.retention import Retention
from runplane.server.settings import ServerSettings

RETENTION_DAYS = 30.0


class _Now:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Timing:
    backend: str
    runs: int
    batch: int
    durations: list[float]


async def _time_batches(url: str, home: Path, batch: int, batches: int) -> list[float]:
    settings = ServerSettings(home=home, database_url=url, run_retention_days=RETENTION_DAYS)
    database = Database(url)
    # No rest between batches: the time of the transactions alone.
    retention = Retention(
        database, _Now(), settings, run_batch=batch, max_batches=1, busy_share=1.0
    )
    durations: list[float] = []
    try:
        for _ in range(batches):
            started = time.perf_counter()
            pruned = await retention.run_once()
            durations.append(time.perf_counter() - started)
            assert pruned.flow_runs == batch, f"the backlog ran out: {pruned}"
    finally:
        await database.dispose()
    return durations


def measure(backend: str, home: Path, runs: int, sizes: list[int], batches: int) -> list[Timing]:
    timings: list[Timing] = []
    with database(backend, home) as url:
        asyncio.run(backlog.fill(url, runs, RETENTION_DAYS))
        for size in sizes:
            # Topped up again, so that every size deletes from a table of `runs` runs.
            asyncio.run(backlog.fill(url, runs, RETENTION_DAYS))
            durations = asyncio.run(_time_batches(url, home, size, batches))
            timings.append(Timing(backend, runs, size, durations))
    return timings


def _print(timings: list[Timing]) -> None:
    table = Table(title="run retention: one batch of old runs deleted with their states")
    for column in ("database", "runs in table", "runs a batch", "p50 ms", "max ms", "runs/s"):
        table.add_column(column, justify="right")
    for t in timings:
        table.add_row(
            t.backend,
            f"{t.runs:,}",
            str(t.batch),
            f"{1000 * statistics.median(t.durations):.1f}",
            f"{1000 * max(t.durations):.1f}",
            f"{t.batch * len(t.durations) / sum(t.durations):,.0f}",
        )
    Console(width=120).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, nargs="+", default=[250, 500, 1000])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory() as home:
        for backend in args.backends:
            timings += measure(backend, Path(home), args.runs, args.batch, args.batches)
    _print(timings)


if __name__ == "__main__":
    main()
