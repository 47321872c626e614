"""Wall and CPU time of new processes, and the table the start-up benchmarks print."""

from __future__ import annotations

import resource
import statistics
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Timing:
    """One process: seconds of wall time (until it was ready or done) and of CPU time (user
    + system, until it exited)."""

    wall: float
    cpu: float


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def print_timings(title: str, label: str, results: list[tuple[str, list[Timing]]]) -> None:
    """One row per measured thing: median and fastest wall time, median CPU time."""
    table = Table(title=title)
    for column in (label, "median wall", "fastest wall", "median CPU"):
        table.add_column(column)
    for name, runs in results:
        walls = [run.wall for run in runs]
        cpu = statistics.median(run.cpu for run in runs)
        table.add_row(name, f"{statistics.median(walls):.2f}", f"{min(walls):.2f}", f"{cpu:.2f}")
    Console().print(table)
