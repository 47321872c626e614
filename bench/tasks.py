"""Background tasks: the delay from ``task.delay`` to the task's first line, and the rate one
task worker sustains.

Starts ``runplane server start`` in its own process (SQLite by default, or PostgreSQL), a
``runplane task-worker start`` process for two tasks, and a driver process that calls
``delay``:

(a) start latency: ``--runs`` calls of ``stamp.delay(path, time.time())``, one at a time,
    ``--spacing`` seconds apart; the task appends ``time.time()`` and the time it was sent,
    and the delay is their difference;
(b) throughput: ``--burst`` calls of ``noop.delay(path)`` as fast as the driver makes them;
    each run appends ``time.time()`` as it ends, and the rate is the runs over the time from
    the first to the last end.

With ``--prefect-python PATH`` the same workload runs on Prefect 3 with that interpreter: a
``prefect server start`` process, a task worker from ``prefect.task_worker.serve`` and the
same driver. If Prefect cannot be started there, the table says so.

    .venv/bin/python bench/tasks.py [--runs 200] [--spacing 0.02] [--burst 500]
                                    [--limit 10] [--backends sqlite postgres]
                                    [--prefect-python /tmp/prefect-venv/bin/python]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_servers import database, prefect_server, quantile, running_server
from rich.console import Console
from rich.table import Table

TARGET = "p99 < 50 ms"
MODULE = "bench_background_tasks"
TASKS_SOURCE = """
import os
import time

from {package} import task


def append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@task
def stamp(path: str, sent: float) -> None:
    append(path, f"{{time.time()!r}} {{sent!r}}\\n")


@task
def noop(path: str) -> None:
    append(path, f"{{time.time()!r}}\\n")
"""
DRIVER_SOURCE = """
import sys
import time

import {module} as tasks

mode, path, count, spacing = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if mode == "latency":
    for _ in range(count):
        tasks.stamp.delay(path, time.time())
        time.sleep(spacing)
else:
    print(time.time(), flush=True)
    for _ in range(count):
        tasks.noop.delay(path)
"""


@dataclass
class Row:
    system: str
    latencies: list[float] = field(default_factory=list)
    rate: float | None = None
    note: str = ""


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _wait_lines(path: Path, count: int, within: float) -> list[str]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        lines = _lines(path)
        if len(lines) >= count:
            return lines
        time.sleep(0.01)
    raise TimeoutError(f"{len(_lines(path))} of {count} task runs ran within {within} s")


@dataclass
class System:
    """How to run the workload on one orchestrator."""

    name: str
    python: str
    package: str
    env: dict[str, str]
    worker: list[str]


def _measure(system: System, work: Path, runs: int, spacing: float, burst: int) -> Row:
    row = Row(system.name)
    (work / f"{MODULE}.py").write_text(TASKS_SOURCE.format(package=system.package))
    (work / "bench_driver.py").write_text(DRIVER_SOURCE.format(module=MODULE))
    env = {**system.env, "PYTHONPATH": str(work)}
    log = (work / f"{system.name.split()[0]}-worker.log").open("w")
    worker = subprocess.Popen(system.worker, cwd=work, env=env, stdout=log, stderr=log)

    def drive(mode: str, path: Path, count: int, gap: float) -> subprocess.Popen[str]:
        command = [system.python, "bench_driver.py", mode, str(path), str(count), str(gap)]
        return subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, text=True)

    try:
        # Warm up (imports, first connections) until the worker runs a task.
        warm = work / "warm.txt"
        drive("latency", warm, 3, 0.2).wait(120)
        _wait_lines(warm, 3, 120)
        stamps = work / "stamps.txt"
        drive("latency", stamps, runs, spacing).wait(600)
        lines = _wait_lines(stamps, runs, 60)
        row.latencies = [float(a) - float(b) for a, b in (line.split() for line in lines)]
        ends = work / "ends.txt"
        driver = drive("throughput", ends, burst, 0)
        driver.wait(600)
        done = [float(line) for line in _wait_lines(ends, burst, 600)]
        row.rate = (len(done) - 1) / (max(done) - min(done)) if len(done) > 1 else None
    except (TimeoutError, subprocess.TimeoutExpired) as error:
        row.note = str(error)
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
    return row


def _runplane(backend: str, args: argparse.Namespace) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        with database(backend, home) as url, running_server(url, home) as address:
            env = {**os.environ, "RUNPLANE_API_URL": address, "RUNPLANE_HOME": str(home)}
            worker = [sys.executable, "-m", "runplane.cli", "task-worker", "start"]
            worker += [f"{MODULE}:stamp", f"{MODULE}:noop", "--limit", str(args.limit)]
            system = System(f"runplane ({backend})", sys.executable, "runplane", env, worker)
            return _measure(system, home, args.runs, args.spacing, args.burst)


def _prefect(args: argparse.Namespace) -> Row:
    python = args.prefect_python
    probe = subprocess.run(
        [python, "-c", "import prefect; print(prefect.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return Row("prefect", note=f"prefect cannot be imported with {python}")
    version = probe.stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "prefect").mkdir()
        try:
            with prefect_server(python, home / "prefect") as url:
                env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(home / "prefect")}
                env["PREFECT_LOGGING_LEVEL"] = "WARNING"
                serve = (
                    f"from prefect.task_worker import serve; import {MODULE} as m; "
                    f"serve(m.stamp, m.noop, limit={args.limit})"
                )
                system = System(f"prefect {version}", python, "prefect", env, [python, "-c", serve])
                return _measure(system, home, args.runs, args.spacing, args.burst)
        except RuntimeError as error:
            return Row(f"prefect {version}", note=str(error))


def _print(rows: list[Row]) -> None:
    table = Table(title="task.delay -> first line of the task, ms; one task worker's rate")
    for column in ("system", "n", "p50", "p90", "p99", "max", "target", "tasks/s", "note"):
        table.add_column(column, justify="left" if column in ("system", "note") else "right")
    for row in rows:
        values = sorted(1000 * d for d in row.latencies)
        stats = (
            [f"{quantile(values, q):,.1f}" for q in (0.5, 0.9, 0.99, 1.0)] if values else ["-"] * 4
        )
        rate = f"{row.rate:,.0f}" if row.rate is not None else "-"
        table.add_row(row.system, str(len(values)), *stats, TARGET, rate, row.note)
    Console(width=150).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--spacing", type=float, default=0.02)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--backends", nargs="*", default=["sqlite"])
    parser.add_argument("--prefect-python", default=None)
    args = parser.parse_args()
    rows = [_runplane(backend, args) for backend in args.backends]
    if args.prefect_python:
        rows.append(_prefect(args))
    _print(rows)


if __name__ == "__main__":
    main()
