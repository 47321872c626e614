"""SIGTERM stops a flow's main thread even when another thread of the process takes it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from runplane._engine.signals import sigterm_raises

# The main thread blocks in a wait; a second thread sends SIGTERM to itself only once the
# main thread is inside that wait, so Python's handler cannot run until something wakes it.
# The process does that, then forks, and its child, where the forwarder the parent installed
# and removed does not exist, does it again: one interpreter start for both cases.
SIGNAL_ON_ANOTHER_THREAD = """
import os, signal, sys, threading
from runplane._engine.errors import TerminationSignal
from runplane._engine.signals import sigterm_raises

main = threading.main_thread()

def block_here() -> None:
    threading.Event().wait(600)

def main_is_waiting() -> bool:
    frame = sys._current_frames().get(main.ident)
    while frame is not None and frame.f_code.co_name != "block_here":
        frame = frame.f_back
    return frame is not None

def signal_this_thread() -> None:
    while not main_is_waiting():
        threading.Event().wait(0.001)
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

def interrupted() -> bool:
    with sigterm_raises() as installed:
        assert installed
        threading.Thread(target=signal_this_thread, daemon=True).start()
        try:
            block_here()
        except TerminationSignal:
            return True
    return False

print("process:", "terminated" if interrupted() else "not terminated", flush=True)
child = os.fork()
if child:
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
print("forked child:", "terminated" if interrupted() else "not terminated", flush=True)
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What the process and its forked child each printed, by case."""
    script = tmp_path_factory.mktemp("sigterm") / "blocked.py"
    script.write_text(textwrap.dedent(SIGNAL_ON_ANOTHER_THREAD))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return dict(line.split(": ", 1) for line in done.stdout.splitlines())


@pytest.mark.parametrize("case", ["process", "forked child"])
def test_a_sigterm_taken_by_another_thread_interrupts_the_main_thread(
    outcomes: dict[str, str], case: str
) -> None:
    assert outcomes.get(case) == "terminated", outcomes


def test_the_wakeup_fd_is_released_after_the_flow() -> None:
    with sigterm_raises() as installed:
        assert installed
        assert signal.set_wakeup_fd(-1) != -1
    assert signal.set_wakeup_fd(-1) == -1
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_wakeup_fd_set_by_someone_else_stays_theirs() -> None:
    receiver, sender = socket.socketpair()
    sender.setblocking(False)
    signal.set_wakeup_fd(sender.fileno())
    try:
        with sigterm_raises() as installed:
            assert installed
            assert signal.set_wakeup_fd(sender.fileno()) == sender.fileno()
    finally:
        assert signal.set_wakeup_fd(-1) == sender.fileno()
        receiver.close()
        sender.close()
