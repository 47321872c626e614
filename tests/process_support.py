"""Waiting on processes that are not the test's own children."""

from __future__ import annotations

import os
from pathlib import Path

import anyio


def process_exited(pid: int) -> bool:
    """Whether the process has exited; a zombie that no one has reaped yet has."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


async def wait_exited(pid: int, within: float = 30.0) -> None:
    """Waits for another process's child to exit: no event tells of it, so its pid is polled."""
    with anyio.move_on_after(within):
        while not process_exited(pid):  # noqa: ASYNC110
            await anyio.sleep(0.02)
        return
    raise AssertionError(f"process {pid} still runs after {within} s")
