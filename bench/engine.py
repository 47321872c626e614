"""Overhead of the flow and task engine, on the embedded default and against a running server.

Each workload runs in a fresh Python process (so imports and embedded servers do not leak
from one row to the next) and reports back one JSON line:

* 500 sequential trivial tasks in one flow: per-task overhead, that is the flow's wall time
  minus an empty flow's, divided by 500; and how many of the 500 task runs the API lists
  right after the flow call returns;
* the same with async tasks awaited one by one in an async flow (``asyncio.run`` per flow
  call): per-task overhead, measured the same way; and 100 trivial async flow runs;
* 500 submitted trivial tasks in one flow: the flow's wall time;
* 100 sequential trivial flow runs: wall time per flow run;
* ``import runplane``: best of 3 fresh interpreters.

Backends: the embedded default (``RUNPLANE_API_URL`` unset, a temporary ``RUNPLANE_HOME``),
``runplane server start`` on SQLite, and on PostgreSQL when it is reachable (a database of
its own, dropped at the end). With ``--prefect-python PATH`` (the python of a virtual
environment with ``pip install prefect==3.9.1``) the same workloads also run with Prefect,
on its ephemeral server and on ``prefect server start``, and the table shows the ratio.

    .venv/bin/python bench/engine.py [--prefect-python PATH] [--repeat 3]

The worker half of this file (``--worker``) imports only the standard library at module
level, so that it also runs under Prefect's interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TASKS = 500
FLOW_RUNS = 100
IMPORT_TRIES = 3
EMPTY_RUNS = 5
RESULT_MARK = "BENCH-RESULT "
WORKER_TIMEOUT = 1800.0

# ---------------------------------------------------------------------------------------------
# Workers: run in a fresh interpreter, under runplane's or Prefect's python.
# ---------------------------------------------------------------------------------------------


@dataclass
class Engine:
    """The few things a workload needs from an orchestrator, bound to runplane or Prefect."""

    flow: Callable[..., Any]
    task: Callable[..., Any]
    wait: Callable[[list[Any]], Any]
    current_flow_run_id: Callable[[], str]
    count_task_runs: Callable[[str], int]


def _runplane_engine() -> Engine:
    import runplane
    from runplane._runtime.context import current_run_ids

    def current() -> str:
        return str(current_run_ids()[0])

    def count(flow_run_id: str) -> int:
        wanted = runplane.TaskRunFilter(flow_run_ids=(uuid.UUID(flow_run_id),))
        total, token = 0, None
        with runplane.get_client(sync_client=True) as client:
            while True:
                page = client.list_task_runs(wanted, page_size=500, page_token=token)
                total += len(page)
                token = page.next_page_token
                if not token:
                    return total

    return Engine(runplane.flow, runplane.task, runplane.wait, current, count)


def _prefect_engine() -> Engine:
    import prefect
    from prefect.context import get_run_context
    from prefect.futures import wait

    def current() -> str:
        context: Any = get_run_context()
        return str(context.flow_run.id)

    def count(flow_run_id: str) -> int:
        body = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
        with prefect.get_client(sync_client=True) as client:
            response = client._client.post("/task_runs/count", json=body)
            response.raise_for_status()
            return int(response.json())

    return Engine(prefect.flow, prefect.task, wait, current, count)


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


def _sequential_tasks(engine: Engine, repeat: int) -> dict[str, Any]:
    @engine.task
    def noop(i: int) -> int:
        return i

    @engine.flow
    def empty() -> str:
        return engine.current_flow_run_id()

    @engine.flow
    def sequential() -> str:
        for i in range(TASKS):
            noop(i)
        return engine.current_flow_run_id()

    return _per_task(engine, empty, sequential, repeat)


def _async_tasks(engine: Engine, repeat: int) -> dict[str, Any]:
    @engine.task
    async def noop(i: int) -> int:
        return i

    @engine.flow
    async def empty() -> str:
        return engine.current_flow_run_id()

    @engine.flow
    async def sequential() -> str:
        for i in range(TASKS):
            await noop(i)
        return engine.current_flow_run_id()

    result = _per_task(
        engine, lambda: asyncio.run(empty()), lambda: asyncio.run(sequential()), repeat
    )
    return {**result, **_flow_runs_of(lambda: asyncio.run(empty()), repeat)}


def _per_task(
    engine: Engine, empty: Callable[[], str], sequential: Callable[[], str], repeat: int
) -> dict[str, Any]:
    """Per-task overhead: a flow of TASKS tasks less an empty flow, and the runs recorded."""
    empty()  # warm up: server start, flow registration, first connections
    sequential()
    empties, fulls, recorded = [], [], []
    # The baseline is cheap next to 500 tasks, and a noisy one skews every task's share.
    for _ in range(max(repeat, EMPTY_RUNS)):
        empties.append(_timed(empty)[0])
    for _ in range(repeat):
        elapsed, flow_run_id = _timed(sequential)
        fulls.append(elapsed)
        recorded.append(engine.count_task_runs(flow_run_id))
    per_task = (statistics.median(fulls) - statistics.median(empties)) / TASKS
    return {"per_task_ms": 1000 * per_task, "recorded": min(recorded), "tasks": TASKS}


def _submitted_tasks(engine: Engine, repeat: int) -> dict[str, Any]:
    @engine.task
    def noop(i: int) -> int:
        return i

    @engine.flow
    def submitted() -> None:
        engine.wait([noop.submit(i) for i in range(TASKS)])

    submitted()
    return {"wall_s": statistics.median(_timed(submitted)[0] for _ in range(repeat))}


def _flow_runs(engine: Engine, repeat: int) -> dict[str, Any]:
    @engine.flow
    def trivial() -> int:
        return 1

    return _flow_runs_of(trivial, repeat)


def _flow_runs_of(trivial: Callable[[], Any], repeat: int) -> dict[str, Any]:
    """Wall time per call of a trivial flow, over FLOW_RUNS calls in a row."""

    def many() -> None:
        for _ in range(FLOW_RUNS):
            trivial()

    trivial()
    elapsed = statistics.median(_timed(many)[0] for _ in range(repeat))
    return {"per_flow_ms": 1000 * elapsed / FLOW_RUNS}


def _import_time(module: str) -> dict[str, Any]:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    tries = [
        float(
            subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        for _ in range(IMPORT_TRIES)
    ]
    return {"import_s": min(tries)}


def worker(kind: str, workload: str, repeat: int) -> None:
    if workload == "import":
        result = _import_time("runplane" if kind == "runplane" else "prefect")
    else:
        engine = _runplane_engine() if kind == "runplane" else _prefect_engine()
        run = {
            "tasks": _sequential_tasks,
            "async": _async_tasks,
            "submit": _submitted_tasks,
            "flows": _flow_runs,
        }
        result = run[workload](engine, repeat)
    sys.stdout.flush()
    print(RESULT_MARK + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# Driver: starts the servers, runs each workload in a fresh process, prints the table.
# ---------------------------------------------------------------------------------------------


@dataclass
class Backend:
    kind: str  # "runplane" or "prefect"
    mode: str  # "embedded" or "server"
    database: str  # "SQLite" or "PostgreSQL"
    python: str
    env: dict[str, str]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)


@contextlib.contextmanager
def runplane_server(database_url: str, home: Path) -> Iterator[str]:
    from bench_servers import clean_env, free_port, logged_process, port_open, wait_for

    port = free_port()
    env = {**clean_env(), "RUNPLANE_DATABASE_URL": database_url, "RUNPLANE_HOME": str(home)}
    env["RUNPLANE_SERVER_DASHBOARD_ENABLED"] = "false"  # the API alone, on a free port
    command = [sys.executable, "-m", "runplane.cli", "server", "start", "--port", str(port)]
    command += ["--log-level", "WARNING"]
    with logged_process(command, env, home / "server.log") as process:
        wait_for(lambda: port_open(port), process, "runplane server")
        yield f"127.0.0.1:{port}"


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh database's URL, dropped afterwards; None when PostgreSQL is not reachable."""
    import psycopg
    from bench_servers import ADMIN_URL, libpq
    from bench_servers import postgres_database as fresh_database

    try:
        psycopg.connect(libpq(ADMIN_URL), connect_timeout=3).close()
    except psycopg.OperationalError:
        yield None
        return
    with fresh_database() as url:
        yield url


def run_worker(backend: Backend, workload: str, repeat: int) -> dict[str, Any]:
    command = [backend.python, str(Path(__file__).resolve()), "--worker", backend.kind]
    command += ["--workload", workload, "--repeat", str(repeat)]
    done = subprocess.run(
        command, env=backend.env, capture_output=True, text=True, timeout=WORKER_TIMEOUT
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            return result
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
    raise RuntimeError(f"{backend.kind} {backend.mode} {workload} failed:\n{tail}")


def measure(
    backend: Backend, workloads: list[str], repeat: int, say: Callable[[str], None]
) -> None:
    for workload in workloads:
        say(f"{backend.kind} {backend.mode} {backend.database}: {workload}")
        try:
            backend.results[workload] = run_worker(backend, workload, repeat)
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            say(f"[red]{err}[/red]")
            backend.failed.add(workload)


def _runplane_backends(
    args: argparse.Namespace, home: Path, say: Callable[[str], None]
) -> list[Backend]:
    from bench_servers import clean_env

    done: list[Backend] = []
    embedded = Backend(
        "runplane",
        "embedded",
        "SQLite",
        sys.executable,
        {**clean_env(), "RUNPLANE_HOME": str(home / "embedded")},
    )
    measure(embedded, [*args.workloads, "import"], args.repeat, say)
    done.append(embedded)
    with postgres_database() as pg_url:
        urls = {"SQLite": f"sqlite+aiosqlite:///{home / 'server.db'}", "PostgreSQL": pg_url}
        for database, url in urls.items():
            if url is None:
                say("PostgreSQL not reachable: skipped")
                continue
            server_home = home / f"server-{database.lower()}"
            server_home.mkdir()
            with runplane_server(url, server_home) as address:
                env = {
                    **clean_env(),
                    "RUNPLANE_API_URL": address,
                    "RUNPLANE_HOME": str(server_home / "client"),
                }
                backend = Backend("runplane", "server", database, sys.executable, env)
                measure(backend, args.workloads, args.repeat, say)
                done.append(backend)
    return done


def _prefect_backends(
    args: argparse.Namespace, home: Path, say: Callable[[str], None]
) -> list[Backend]:
    from bench_servers import clean_env, prefect_server

    python = args.prefect_python
    quiet = {"PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    ephemeral_home = home / "prefect-ephemeral"
    env = {
        **clean_env(),
        **quiet,
        "PREFECT_HOME": str(ephemeral_home),
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
    }
    ephemeral = Backend("prefect", "embedded", "SQLite", python, env)
    measure(ephemeral, [*args.workloads, "import"], args.prefect_repeat, say)
    server_home = home / "prefect-server"
    server_home.mkdir()
    with prefect_server(python, server_home) as api:
        env = {
            **clean_env(),
            **quiet,
            "PREFECT_HOME": str(server_home / "client"),
            "PREFECT_API_URL": api,
        }
        server = Backend("prefect", "server", "SQLite", python, env)
        measure(server, args.workloads, args.prefect_repeat, say)
    return [ephemeral, server]


@dataclass(frozen=True)
class Metric:
    label: str
    workload: str
    key: str
    unit: str
    target: str
    met: Callable[[float], bool] | None


METRICS = [
    Metric(
        f"per task, {TASKS} sequential",
        "tasks",
        "per_task_ms",
        "ms",
        "≤ 0.3 ms",
        lambda v: v <= 0.3,
    ),
    Metric(
        f"per async task, {TASKS} awaited",
        "async",
        "per_task_ms",
        "ms",
        "≤ 0.3 ms",
        lambda v: v <= 0.3,
    ),
    Metric(f"{TASKS} submitted, wall", "submit", "wall_s", "s", "", None),
    Metric(
        f"per flow run, {FLOW_RUNS} runs",
        "flows",
        "per_flow_ms",
        "ms",
        "≤ 15 ms",
        lambda v: v <= 15,
    ),
    Metric(
        f"per async flow run, {FLOW_RUNS} runs",
        "async",
        "per_flow_ms",
        "ms",
        "≤ 15 ms",
        lambda v: v <= 15,
    ),
    Metric(
        "task runs recorded at return",
        "tasks",
        "recorded",
        "",
        f"{TASKS}",
        lambda v: v >= TASKS,
    ),
    Metric("import, best of 3", "import", "import_s", "s", "< 0.5 s", lambda v: v < 0.5),
]


def _value(backend: Backend | None, metric: Metric) -> float | None:
    if backend is None:
        return None
    if metric.workload in backend.failed:
        return math.nan
    found = backend.results.get(metric.workload, {}).get(metric.key)
    return None if found is None else float(found)


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "failed"
    if unit == "":
        return f"{value:.0f}"
    digits = 3 if value < 1 else 2 if value < 10 else 1
    return f"{value:.{digits}f} {unit}"


def print_table(backends: list[Backend]) -> None:
    from rich.console import Console
    from rich.table import Table

    def find(kind: str, mode: str, database: str) -> Backend | None:
        return next(
            (b for b in backends if (b.kind, b.mode, b.database) == (kind, mode, database)), None
        )

    table = Table(title="runplane engine overhead (medians; fresh process per row)")
    for name in (
        "workload",
        "mode",
        "runplane SQLite",
        "runplane PostgreSQL",
        "Prefect 3.9.1",
        "Prefect / runplane",
        "target",
    ):
        table.add_column(name, justify="left" if name in ("workload", "mode") else "right")
    for metric in METRICS:
        modes = ["embedded"] if metric.workload == "import" else ["embedded", "server"]
        for mode in modes:
            ours = _value(find("runplane", mode, "SQLite"), metric)
            pg = _value(find("runplane", mode, "PostgreSQL"), metric)
            theirs = _value(find("prefect", mode, "SQLite"), metric)
            ratio = "-"
            if ours and theirs and math.isfinite(ours * theirs) and metric.key != "recorded":
                ratio = f"{theirs / ours:.0f}x"
            mark = ""
            if metric.met is not None and ours is not None:
                ok = metric.met(ours) and (pg is None or metric.met(pg))
                mark = " [green]✓[/green]" if ok else " [red]✗[/red]"
            table.add_row(
                metric.label,
                "-" if metric.workload == "import" else mode,
                _show(ours, metric.unit),
                _show(pg, metric.unit),
                _show(theirs, metric.unit),
                ratio,
                metric.target + mark,
            )
    Console(width=max(Console().width, 120)).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefect-python", help="python of a venv with prefect==3.9.1")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions inside each workload")
    parser.add_argument(
        "--prefect-repeat", type=int, default=1, help="repetitions for Prefect (slow: ~1 s a run)"
    )
    parser.add_argument(
        "--workloads",
        nargs="+",
        default=["tasks", "async", "submit", "flows"],
        choices=["tasks", "async", "submit", "flows"],
    )
    parser.add_argument("--skip-runplane", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=["runplane", "prefect"], help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.workload, args.repeat)
        return
    from rich.console import Console

    console = Console(stderr=True)

    def say(message: str) -> None:
        console.print(f"[dim]{message}[/dim]")

    backends: list[Backend] = []
    with tempfile.TemporaryDirectory(prefix="runplane-bench-") as tmp:
        home = Path(tmp)
        if not args.skip_runplane:
            backends += _runplane_backends(args, home, say)
        if args.prefect_python:
            backends += _prefect_backends(args, home, say)
    print_table(backends)


if __name__ == "__main__":
    main()
