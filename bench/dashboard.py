"""Render times of the dashboard's pages with many runs.

Starts ``runplane server start`` in its own process (API only), loads ``--runs`` flow runs
through the API (a few hundred of them finished, completed or failed, the rest pending; one
run with task runs and logs), serves the dashboard in this process over that API, and prints
for each page the time from request to full answer over loopback: the dashboard's work plus
its API calls, i.e. the page's server-side render time.

    .venv/bin/python bench/dashboard.py [--runs 100000] [--requests 20] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from bench_servers import database, running_server
from rich.console import Console
from rich.table import Table

from runplane import ArtifactType, LogRecord, RunplaneClient, Settings, State, StateType
from runplane._client.models import TaskRunSpec
from runplane.dashboard import serving

CONCURRENCY = 32
FINISHED = 300
"""The newest runs are moved to COMPLETED or FAILED, so that the chart has states to show."""


async def _load_runs(client: RunplaneClient, flow_id: UUID, count: int) -> list[UUID]:
    ids: list[UUID] = []
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int) -> None:
        async with gate:
            run = await client.create_flow_run(flow_id, tags=(f"batch-{index % 10}",))
            ids.append(run.id)

    started = time.perf_counter()
    step = 5000
    for first in range(0, count, step):
        await asyncio.gather(*(one(i) for i in range(first, min(first + step, count))))
        rate = len(ids) / (time.perf_counter() - started)
        print(f"  {len(ids)} runs loaded ({rate:.0f}/s)", flush=True)
    return ids


async def _finish(client: RunplaneClient, run_ids: list[UUID]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int, run_id: UUID) -> None:
        async with gate:
            await client.set_flow_run_state(run_id, State(type=StateType.RUNNING))
            end = StateType.FAILED if index % 7 == 0 else StateType.COMPLETED
            await client.set_flow_run_state(run_id, State(type=end))

    await asyncio.gather(*(one(i, run_id) for i, run_id in enumerate(run_ids)))


async def _artifacts(client: RunplaneClient, run_id: UUID) -> None:
    """One artifact of each kind, the table 200 rows long, as a report run would publish."""
    rows = [[f"city-{i}", i, i * 0.5] for i in range(200)]
    report = "# Nightly load\n\n" + "\n".join(f"- step {i} done" for i in range(50))
    for kind, data in (
        (ArtifactType.MARKDOWN, report),
        (ArtifactType.TABLE, json.dumps(rows)),
        (ArtifactType.LINK, "[the data](https://example.com/data)"),
        (ArtifactType.PROGRESS, "100"),
        (ArtifactType.IMAGE, "https://example.com/chart.png"),
    ):
        await client.create_artifact(kind, data, flow_run_id=run_id)


async def _detailed_run(client: RunplaneClient, flow_id: UUID) -> UUID:
    """A run with 100 task runs, 500 log lines and 5 artifacts, for the run page."""
    run = await client.create_flow_run(flow_id)
    await client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
    for index in range(100):
        task = await client.create_task_run(
            TaskRunSpec(flow_run_id=run.id, task_key=f"step-{index}", name=f"step-{index}")
        )
        await client.set_task_run_state(task.id, State(type=StateType.RUNNING))
        await client.set_task_run_state(task.id, State(type=StateType.COMPLETED))
    records = [LogRecord(flow_run_id=run.id, level=20, message=f"line {i}") for i in range(500)]
    await client.write_logs(records)
    await _artifacts(client, run.id)
    await client.set_flow_run_state(run.id, State(type=StateType.COMPLETED))
    return run.id


async def _time_pages(url: str, pages: dict[str, str], requests: int) -> Table:
    table = Table(title=f"dashboard pages, {requests} requests each (ms)")
    for column in ("page", "min", "median", "p95", "max"):
        table.add_column(column, justify="left" if column == "page" else "right")
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for name, path in pages.items():
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                answer = await http.get(path)
                times.append((time.perf_counter() - started) * 1000)
                answer.raise_for_status()
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            cells = (min(times), statistics.median(times), p95, max(times))
            table.add_row(name, *(f"{value:.1f}" for value in cells))
    return table


async def _bench(address: str, runs: int, requests: int) -> None:
    settings = Settings(api_url=address)
    async with RunplaneClient(settings) as client:
        flow = await client.create_flow("bench-dashboard")
        print(f"loading {runs} flow runs through the API", flush=True)
        ids = await _load_runs(client, flow.id, runs)
        await _finish(client, ids[-FINISHED:])
        detailed = await _detailed_run(client, flow.id)
        second_page = (await client.list_flow_runs(page_size=50)).next_page_token or ""
    pages = {
        "runs": "/runs",
        "runs, completed only": "/runs?state=COMPLETED",
        "runs, by flow and tag": "/runs?flow=bench-dashboard&tag=batch-3",
        "runs, second page": f"/runs?{httpx.QueryParams({'page': second_page})}",
        "run with 100 tasks, 500 logs, 5 artifacts": f"/runs/{detailed}",
        "deployments": "/deployments",
        "work pools": "/work-pools",
    }
    async with serving(settings, port=0) as dashboard:
        table = await _time_pages(dashboard.url, pages, requests)
    Console().print(table)


def _run_on_uvloop(coroutine: Coroutine[Any, Any, None]) -> None:
    """On uvloop, as ``runplane server start`` serves the dashboard: on asyncio's own loop
    each answer here waited about 40 ms more (a delayed ACK), which would hide the pages'
    own times."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="flow runs to load")
    parser.add_argument("--requests", type=int, default=20, help="requests per page")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as home,
        database(args.backend, Path(home)) as url,
        running_server(url, Path(home)) as address,
    ):
        _run_on_uvloop(_bench(address, args.runs, args.requests))


if __name__ == "__main__":
    main()
