"""The runner's lifeline: a run's process never outlives the runner that started it.

The runner opens a pipe and keeps its write end to itself; it never writes to it. The fork
server and every run process inherit the read end (its number is in
``RUNPLANE_RUNNER_LIFELINE_FD``). However the runner ends (an exit, a crash, SIGKILL, the
out-of-memory killer), the kernel closes the write end, and a read of the read end then
returns end of file. A thread in each run process waits for exactly that and kills the run's
process group (the flow, its task runner's worker processes, whatever it started), since no
one is left to heartbeat the run or to stop it, and another runner will be handed it once the
server notices the silence. A runner that died before the run process looked finds the pipe
at end of file at once: there is no window.

The run process reports nothing before it dies. Its runner's death may come with a network
partition, so a report could hang while the flow goes on; and the server's heartbeat reaper
already settles a silent run, CRASHED or AwaitingRetry by the run's retry policy, as it does
when a whole machine disappears. A forced CRASHED from here would skip that retry.

The fork server, which is the runner's own child and has no children in its process group,
asks the kernel for SIGKILL when the runner dies (``PR_SET_PDEATHSIG``) and checks, right
after asking, that the runner had not died already.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import threading
from collections.abc import Mapping

LIFELINE_FD_VARIABLE = "RUNPLANE_RUNNER_LIFELINE_FD"
# prctl(2) option: the signal the kernel sends this process when its parent dies.
_PR_SET_PDEATHSIG = 1


class Lifeline:
    """The runner's side: a pipe whose read end its run processes watch."""

    def __init__(self) -> None:
        # Both ends are non-inheritable: only ``pass_fds`` hands the read end on, and the
        # write end stays in the runner alone, so that its death is the pipe's end.
        self.read_fd, self._write_fd = os.pipe()

    def environment(self) -> dict[str, str]:
        """What a run process needs in its environment to watch the runner."""
        return {LIFELINE_FD_VARIABLE: str(self.read_fd)}

    def close(self) -> None:
        """Cuts the line: every run process still watching it ends."""
        for fd in (self._write_fd, self.read_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def set_parent_death_signal(signum: int) -> bool:
    """Asks the kernel to send ``signum`` to this process when its parent dies; False where
    that is not available (outside Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def watch_runner(env: Mapping[str, str] | None = None) -> threading.Thread | None:
    """In a run process: ends its process group once the runner is gone; None when the
    process was not started by a runner."""
    value = (os.environ if env is None else env).get(LIFELINE_FD_VARIABLE)
    if not value:
        return None
    try:
        fd = int(value)
        os.fstat(fd)
    except (ValueError, OSError):
        print(f"runplane: {LIFELINE_FD_VARIABLE}={value!r} is not open", file=sys.stderr)
        return None
    thread = threading.Thread(
        target=_wait_then_end, args=(fd,), name="runplane-runner-lifeline", daemon=True
    )
    thread.start()
    return thread


def wait_for_end(fd: int) -> None:
    """Blocks until every write end of the pipe ``fd`` reads from is closed."""
    while True:
        select.select([fd], [], [])
        try:
            if not os.read(fd, 1):
                return
        except BlockingIOError:
            continue  # another process's read won the race; nothing is ever written


def _wait_then_end(fd: int) -> None:
    wait_for_end(fd)
    end_process_group("its runner is gone")


def end_process_group(why: str) -> None:
    """Kills this process and, when it leads its process group (a runner made it so), every
    process in the group; returns only where it could not."""
    with contextlib.suppress(OSError):
        os.write(2, f"runplane: stopping the flow run's processes: {why}\n".encode())
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
