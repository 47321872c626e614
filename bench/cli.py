"""Wall time of ``runplane`` commands as an operator types them, each a new process.

Measures ``runplane --help``, ``runplane flow-run ls`` on the embedded default (no
``RUNPLANE_API_URL``: the command opens the SQLite database in ``RUNPLANE_HOME`` itself) and
``runplane flow-run ls`` against a server on SQLite, and prints the median and the fastest
of ``--repeat`` runs of each, in seconds, with the median CPU time (user + system) of the
command's process, which a busy machine disturbs less than the wall time. The commands run
with their bytecode cached (in a temporary ``PYTHONPYCACHEPREFIX``), as an installed
package's is, even where ``PYTHONDONTWRITEBYTECODE`` is set.

    .venv/bin/python bench/cli.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_servers import running_server
from process_timing import Timing, children_cpu, print_timings


def timings(command: list[str], env: dict[str, str], repeat: int) -> list[Timing]:
    """How long each of ``repeat`` runs of ``command`` took; a failed run stops the benchmark."""
    found = []
    for _ in range(repeat):
        cpu = children_cpu()
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        found.append(Timing(time.perf_counter() - started, children_cpu() - cpu))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command")
    args = parser.parse_args()
    runplane = [sys.executable, "-m", "runplane.cli"]
    results: list[tuple[str, list[Timing]]] = []
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        base = {k: v for k, v in os.environ.items() if not k.startswith("RUNPLANE_")}
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        base["PYTHONPYCACHEPREFIX"] = str(home / "bytecode")
        embedded = {**base, "RUNPLANE_HOME": str(home / "embedded")}
        # The first run compiles the bytecode, creates the database and migrates it: none of
        # that is what an operator waits for on every command.
        timings([*runplane, "flow-run", "ls"], embedded, 1)
        results.append(("runplane --help", timings([*runplane, "--help"], base, args.repeat)))
        listing = timings([*runplane, "flow-run", "ls"], embedded, args.repeat)
        results.append(("flow-run ls (embedded)", listing))
        url = f"sqlite+aiosqlite:///{home / 'server.db'}"
        with running_server(url, home / "server") as address:
            served = {**base, "RUNPLANE_API_URL": address}
            listing = timings([*runplane, "flow-run", "ls"], served, args.repeat)
            results.append(("flow-run ls (server)", listing))
    print_timings(f"runplane command times, {args.repeat} runs each (s)", "command", results)


if __name__ == "__main__":
    main()
