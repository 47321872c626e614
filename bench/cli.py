"""Wall time of ``runplane`` commands as an operator types them, each a new process.

Measures ``runplane --help``, ``runplane flow-run ls`` on the embedded default (no
``RUNPLANE_API_URL``: the command opens the SQLite database in ``RUNPLANE_HOME`` itself) and
``runplane flow-run ls`` against a server on SQLite, and prints the median and the fastest
of ``--repeat`` runs of each, in seconds.

    .venv/bin/python bench/cli.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_servers import running_server
from rich.console import Console
from rich.table import Table


def wall_times(command: list[str], env: dict[str, str], repeat: int) -> list[float]:
    """Seconds each of ``repeat`` runs of ``command`` took; a failed run stops the benchmark."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command")
    args = parser.parse_args()
    runplane = [sys.executable, "-m", "runplane.cli"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("RUNPLANE_")}
    results: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        embedded = {**base, "RUNPLANE_HOME": str(home / "embedded")}
        results.append(("runplane --help", wall_times([*runplane, "--help"], base, args.repeat)))
        # The first run creates and migrates the database; it is not what an operator waits for.
        wall_times([*runplane, "flow-run", "ls"], embedded, 1)
        listing = wall_times([*runplane, "flow-run", "ls"], embedded, args.repeat)
        results.append(("flow-run ls (embedded)", listing))
        url = f"sqlite+aiosqlite:///{home / 'server.db'}"
        with running_server(url, home / "server") as address:
            served = {**base, "RUNPLANE_API_URL": address}
            listing = wall_times([*runplane, "flow-run", "ls"], served, args.repeat)
            results.append(("flow-run ls (server)", listing))
    table = Table(title=f"runplane command wall time, {args.repeat} runs each (s)")
    for column in ("command", "median", "fastest"):
        table.add_column(column)
    for name, times in results:
        table.add_row(name, f"{statistics.median(times):.2f}", f"{min(times):.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
