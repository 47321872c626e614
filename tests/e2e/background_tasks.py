"""Tasks that e2e task workers serve; each records its executions in a file.

Every line is ``<event> <pid>``, appended in one write so that concurrent runs never
interleave.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from runplane import task


def record(path: str, event: str) -> list[str]:
    """Appends this event's line; returns the lines written before it."""
    file = Path(path)
    before = file.read_text().splitlines() if file.exists() else []
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{event} {os.getpid()}\n".encode())
    finally:
        os.close(fd)
    return before


@task
def hold_first(path: str) -> str:
    """The first execution hangs until its worker is killed; the next one finishes."""
    if not record(path, "start"):
        time.sleep(120)
    record(path, "end")
    return f"done by {os.getpid()}"


@task
def double(x: int) -> int:
    return 2 * x
