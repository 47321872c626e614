"""Flow runs at scale: the insert rate and the latency of lists and reads as the table grows.

Loads flow runs through the API, as many at once as ``--concurrency`` allows (the server
batches concurrent creates and proposals into shared transactions): runs of several flows,
deployments, work pools and tags, brought by proposals to a mix of SCHEDULED, PENDING,
RUNNING, COMPLETED, FAILED and CANCELLED. At each checkpoint (loading paused) it measures
the insert rate of the segment since the last checkpoint, and the p50/p99 of

- listing the 50 newest runs, with no filter and with each single filter the CLI offers
  (state, flow, deployment, tag, work pool, time range; and a rare tag only the first runs
  loaded carry), and the next page of the unfiltered
  list (its keyset token);
- reading one run by id.

Latencies are those a client sees: one request at a time, gRPC round trip included.

    .venv/bin/python bench/scale.py [--runs 1000000] [--checkpoints 0 10000 100000 1000000]
                                    [--url HOST:PORT [--database URL]] [--keep]
                                    [--concurrency 64] [--samples 200]

Without ``--url`` it starts ``runplane server start`` on a fresh PostgreSQL database of its own
(from RUNPLANE_BENCH_POSTGRES_URL, default postgres on 127.0.0.1:5432), dropped at the end
unless ``--keep``. With ``--url`` it loads that server, onto the flows, deployments and pools
of an earlier load when it finds them (a kept database), so that the lists measure the whole
table; its checkpoints then count the runs this load adds. ``--url ... --runs 0 --checkpoints 0``
measures the lists and reads of a server's database as it is, loading nothing; with
``--database`` (the server's database URL) the runs read by id are sampled from its whole
table, else only runs this load creates are read.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import grpc
import psycopg
from bench_servers import ADMIN_URL, libpq, quantile, running_server
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from runplane.v1 import (
    deployments_pb2,
    deployments_pb2_grpc,
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2,
    flows_pb2_grpc,
    states_pb2,
    work_pb2,
    work_pb2_grpc,
)

PREFIX = "scale"
FLOWS = 5
DEPLOYMENTS = 4
POOLS = 3
TAGS = ("nightly", "etl", "reports", "ml", "backfill", "urgent", "team-a", "team-b")
# A rare tag on old runs: one in five of the first runs a load creates carry it, no later one.
ARCHIVE_TAG = "archive"
ARCHIVED_RUNS = 500
ACCEPT = states_pb2.ORCHESTRATION_STATUS_ACCEPT
S = states_pb2

# Each run's final state, with its weight, and the proposals that bring it there after a
# create (in PENDING, or SCHEDULED for SCHEDULED).
MIX: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (S.STATE_TYPE_SCHEDULED, 15, ()),
    (S.STATE_TYPE_PENDING, 15, ()),
    (S.STATE_TYPE_RUNNING, 10, (S.STATE_TYPE_RUNNING,)),
    (S.STATE_TYPE_COMPLETED, 40, (S.STATE_TYPE_RUNNING, S.STATE_TYPE_COMPLETED)),
    (S.STATE_TYPE_FAILED, 10, (S.STATE_TYPE_RUNNING, S.STATE_TYPE_FAILED)),
    (S.STATE_TYPE_CANCELLED, 10, (S.STATE_TYPE_CANCELLED,)),
)

T = TypeVar("T")

TARGETS = {"insert": "within 20% of empty", "list": "p99 <= 20 ms", "read": "p99 <= 5 ms"}


@dataclass(frozen=True)
class Fixtures:
    """What the runs are spread over."""

    flow_ids: list[str]
    deployments: list[tuple[str, str, str]]  # id, flow id, work pool
    pools: list[str]


@dataclass
class Loaded:
    """Runs created so far, and a sample of their ids to read back."""

    count: int = 0
    ids: list[str] = field(default_factory=list)


@dataclass
class Checkpoint:
    runs: int
    insert_rate: float | None
    latencies: dict[str, list[float]]


# --- fixtures and loading -----------------------------------------------------------------


async def fixtures_on(channel: grpc.aio.Channel) -> Fixtures:
    """The flows, deployments and pools the runs are spread over: those of an earlier load of
    this benchmark when the server has them (``--url`` on a kept database), else new ones."""
    flows = flows_pb2_grpc.FlowServiceStub(channel)
    work = work_pb2_grpc.WorkServiceStub(channel)
    deployments = deployments_pb2_grpc.DeploymentServiceStub(channel)
    pools = [f"{PREFIX}-pool-{i}" for i in range(POOLS)]
    for pool in pools:
        await _create_or_get(
            work.CreateWorkPool(
                work_pb2.CreateWorkPoolRequest(work_pool=work_pb2.WorkPool(name=pool))
            ),
            lambda pool=pool: work.GetWorkPool(work_pb2.GetWorkPoolRequest(name=pool)),
        )
    flow_names = [f"{PREFIX}-flow-{i}" for i in range(FLOWS)]
    flow_ids = []
    for name in flow_names:
        made = await _create_or_get(
            flows.CreateFlow(flows_pb2.CreateFlowRequest(name=name)),
            lambda name=name: flows.GetFlow(flows_pb2.GetFlowRequest(name=name)),
        )
        flow_ids.append(made.flow.id)
    spread = []
    for i in range(DEPLOYMENTS):
        name, flow_name, pool = f"{PREFIX}-deployment-{i}", flow_names[i % FLOWS], pools[i % POOLS]
        deployment = deployments_pb2.Deployment(
            name=name, flow_name=flow_name, entrypoint="flows.py:main", work_pool_name=pool
        )
        made = await _create_or_get(
            deployments.CreateDeployment(
                deployments_pb2.CreateDeploymentRequest(deployment=deployment)
            ),
            lambda d=f"{flow_name}/{name}": deployments.GetDeployment(
                deployments_pb2.GetDeploymentRequest(name=d)
            ),
        )
        spread.append((made.deployment.id, made.deployment.flow_id, pool))
    return Fixtures(flow_ids, spread, pools)


async def _create_or_get(create: Awaitable[T], get: Callable[[], Awaitable[T]]) -> T:
    try:
        return await create
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
    return await get()


def run_request(
    rng: random.Random, fixtures: Fixtures, final: int, archived: bool = False
) -> flow_runs_pb2.CreateFlowRunRequest:
    request = flow_runs_pb2.CreateFlowRunRequest(tags=rng.sample(TAGS, rng.randint(0, 2)))
    if archived:
        request.tags.append(ARCHIVE_TAG)
    if rng.random() < 0.6:
        deployment_id, flow_id, pool = rng.choice(fixtures.deployments)
        request.deployment_id = deployment_id
        request.flow_id = flow_id
        request.work_pool_name = pool
    else:
        request.flow_id = rng.choice(fixtures.flow_ids)
        if rng.random() < 0.5:
            request.work_pool_name = rng.choice(fixtures.pools)
    if final == S.STATE_TYPE_SCHEDULED:
        due = datetime.now(UTC) + timedelta(days=1, seconds=rng.randint(0, 86400))
        request.state.type = S.STATE_TYPE_SCHEDULED
        request.state.details.scheduled_time.FromDatetime(due)
    return request


async def load_one(
    stub: flow_runs_pb2_grpc.FlowRunServiceStub,
    rng: random.Random,
    fixtures: Fixtures,
    archived: bool = False,
) -> str:
    final, _, proposals = rng.choices(MIX, weights=[weight for _, weight, _ in MIX])[0]
    created = await stub.CreateFlowRun(run_request(rng, fixtures, final, archived))
    run_id = created.flow_run.id
    for state_type in proposals:
        answer = await stub.SetFlowRunState(
            flow_runs_pb2.SetFlowRunStateRequest(
                flow_run_id=run_id,
                state=states_pb2.State(type=state_type),
                transition_id=str(uuid.uuid4()),
            )
        )
        if answer.result.status != ACCEPT:
            raise RuntimeError(f"proposal not accepted: {answer.result}")
    return run_id


async def load(
    channels: list[grpc.aio.Channel],
    fixtures: Fixtures,
    loaded: Loaded,
    until: int,
    concurrency: int,
    rng: random.Random,
) -> float:
    """Creates runs until ``until`` exist; the rate, runs per second."""
    stubs = [flow_runs_pb2_grpc.FlowRunServiceStub(channel) for channel in channels]
    start_count, started = loaded.count, time.perf_counter()
    next_report = started + 10

    async def worker(i: int) -> None:
        nonlocal next_report
        stub = stubs[i % len(stubs)]
        while loaded.count < until:
            loaded.count += 1
            archived = loaded.count <= ARCHIVED_RUNS and loaded.count % 5 == 0
            run_id = await load_one(stub, rng, fixtures, archived)
            # A reservoir sample of the ids, for reads by id.
            if len(loaded.ids) < 10_000:
                loaded.ids.append(run_id)
            elif (slot := rng.randrange(loaded.count)) < len(loaded.ids):
                loaded.ids[slot] = run_id
            if (now := time.perf_counter()) > next_report:
                next_report = now + 10
                rate = (loaded.count - start_count) / (now - started)
                print(f"  {loaded.count:,} runs, {rate:,.0f}/s", file=sys.stderr)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    return (loaded.count - start_count) / elapsed if loaded.count > start_count else 0.0


# --- measurements -------------------------------------------------------------------------


def queries(fixtures: Fixtures) -> dict[str, flow_runs_pb2.FlowRunFilter]:
    since = datetime.now(UTC) - timedelta(minutes=10)
    time_range = flow_runs_pb2.FlowRunFilter()
    time_range.expected_start_time_after.FromDatetime(since)
    return {
        "list 50: no filter": flow_runs_pb2.FlowRunFilter(),
        "list 50: state PENDING": flow_runs_pb2.FlowRunFilter(state_types=[S.STATE_TYPE_PENDING]),
        "list 50: state FAILED": flow_runs_pb2.FlowRunFilter(state_types=[S.STATE_TYPE_FAILED]),
        "list 50: flow": flow_runs_pb2.FlowRunFilter(flow_ids=[fixtures.flow_ids[-1]]),
        "list 50: deployment": flow_runs_pb2.FlowRunFilter(
            deployment_ids=[fixtures.deployments[0][0]]
        ),
        "list 50: tag": flow_runs_pb2.FlowRunFilter(tags=[TAGS[0]]),
        "list 50: rare tag, old runs": flow_runs_pb2.FlowRunFilter(tags=[ARCHIVE_TAG]),
        "list 50: work pool": flow_runs_pb2.FlowRunFilter(work_pool_name=fixtures.pools[0]),
        "list 50: since 10 min": time_range,
    }


async def timed(call: Callable[[], Awaitable[object]], samples: int) -> list[float]:
    for _ in range(min(10, samples)):  # warm-up: connections, caches, prepared statements
        await call()
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - started)
    return latencies


async def measure(
    channel: grpc.aio.Channel, fixtures: Fixtures, loaded: Loaded, samples: int, rng: random.Random
) -> dict[str, list[float]]:
    stub = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    results: dict[str, list[float]] = {}
    for name, run_filter in queries(fixtures).items():

        async def listing(run_filter: flow_runs_pb2.FlowRunFilter = run_filter) -> None:
            await stub.ListFlowRuns(
                flow_runs_pb2.ListFlowRunsRequest(filter=run_filter, page_size=50)
            )

        results[name] = await timed(listing, samples)
    first = await stub.ListFlowRuns(flow_runs_pb2.ListFlowRunsRequest(page_size=50))

    async def next_page() -> None:
        await stub.ListFlowRuns(
            flow_runs_pb2.ListFlowRunsRequest(page_size=50, page_token=first.next_page_token)
        )

    results["list 50: next page"] = await timed(next_page, samples)
    if loaded.ids:

        async def read() -> None:
            run_id = rng.choice(loaded.ids)
            await stub.GetFlowRun(flow_runs_pb2.GetFlowRunRequest(flow_run_id=run_id))

        results["read one by id"] = await timed(read, samples)
    return results


async def bench(address: str, args: argparse.Namespace) -> list[Checkpoint]:
    rng = random.Random(args.seed)
    # Several channels, so that one HTTP/2 connection is not the bottleneck.
    channels = [grpc.aio.insecure_channel(address) for _ in range(4)]
    checkpoints: list[Checkpoint] = []
    try:
        fixtures = await fixtures_on(channels[0])
        loaded = Loaded()
        if args.database:
            loaded.ids = sampled_ids(args.database)
        for target in sorted({*args.checkpoints, args.runs}):
            if target > args.runs:
                break
            rate = None
            if target > loaded.count:
                rate = await load(channels, fixtures, loaded, target, args.concurrency, rng)
            latencies = await measure(channels[0], fixtures, loaded, args.samples, rng)
            checkpoint = Checkpoint(loaded.count, rate, latencies)
            checkpoints.append(checkpoint)
            print_checkpoint(checkpoint)
    finally:
        for channel in channels:
            await channel.close()
    return checkpoints


def sampled_ids(database_url: str, count: int = 10_000) -> list[str]:
    """Ids of runs spread over the whole table, old and new, for reads by id."""
    with psycopg.connect(libpq(database_url)) as conn:
        row = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'flow_run'").fetchone()
        percent = min(100.0, 100.0 * 2 * count / max(1.0, float(row[0] if row else 0)))
        rows = conn.execute(
            f"SELECT id FROM flow_run TABLESAMPLE SYSTEM ({percent}) LIMIT {count}"
        ).fetchall()
    return [str(row[0]) for row in rows]


# --- the table ----------------------------------------------------------------------------


def _ms(values: list[float], q: float) -> str:
    return f"{1000 * quantile(values, q):,.1f}"


def _console() -> Console:
    return Console(width=max(120, Console().width))


def print_checkpoint(checkpoint: Checkpoint) -> None:
    table = Table(title=f"{checkpoint.runs:,} flow runs")
    for column in ("measurement", "p50 ms", "p99 ms", "target"):
        table.add_column(column, justify="left" if column in ("measurement", "target") else "right")
    if checkpoint.insert_rate is not None:
        rate = f"{checkpoint.insert_rate:,.0f} runs/s"
        table.add_row("insert rate, last segment", rate, "", TARGETS["insert"])
    for name, values in checkpoint.latencies.items():
        target = TARGETS["read" if name.startswith("read") else "list"]
        table.add_row(name, _ms(values, 0.5), _ms(values, 0.99), target)
    _console().print(table)


def print_summary(checkpoints: list[Checkpoint]) -> None:
    table = Table(title="flow runs at scale: p50 / p99 ms, insert rate in runs/s")
    table.add_column("measurement")
    for checkpoint in checkpoints:
        table.add_column(f"{checkpoint.runs:,}", justify="right")
    rates = [f"{c.insert_rate:,.0f}" if c.insert_rate is not None else "-" for c in checkpoints]
    table.add_row("insert rate, last segment", *rates)
    for name in checkpoints[-1].latencies:
        cells = [
            f"{_ms(c.latencies[name], 0.5)} / {_ms(c.latencies[name], 0.99)}"
            if name in c.latencies
            else "-"
            for c in checkpoints
        ]
        table.add_row(name, *cells)
    _console().print(table)


# --- the server and its database ----------------------------------------------------------


@contextmanager
def own_database(keep: bool) -> Iterator[str]:
    """A fresh PostgreSQL database; dropped at the end unless ``keep``."""
    name = f"runplane_scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        if keep:
            print(f"kept the database: {url}", file=sys.stderr)
        else:
            with psycopg.connect(libpq(ADMIN_URL), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="flow runs to load")
    parser.add_argument(
        "--checkpoints",
        type=int,
        nargs="+",
        default=[0, 10_000, 100_000, 1_000_000],
        help="run counts at which to measure (the last is --runs)",
    )
    parser.add_argument("--url", help="address of a running server (host:port) to load instead")
    parser.add_argument(
        "--database",
        help="with --url, the server's database URL: the runs read by id are sampled from its "
        "whole table, not only from the runs this load creates",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--concurrency", type=int, default=64, help="runs created at once")
    parser.add_argument("--samples", type=int, default=200, help="requests per measurement")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.url:
        checkpoints = asyncio.run(bench(args.url, args))
    else:
        with (
            tempfile.TemporaryDirectory() as home,
            own_database(args.keep) as url,
            running_server(url, Path(home)) as address,
        ):
            checkpoints = asyncio.run(bench(address, args))
    print_summary(checkpoints)


if __name__ == "__main__":
    main()
