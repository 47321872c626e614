"""Turns SIGTERM into ``TerminationSignal`` while a top-level flow runs on the main thread.

The same path stops a cancelled run that no runner holds: ``terminate_main_thread`` sends
the main thread the SIGTERM a runner would send its process, and the engine then finds the
run CANCELLING and reports it CANCELLED.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from runplane._engine.errors import TerminationSignal

# Held while the handler is installed or removed, and while a signal is sent to the main
# thread, so that no signal sent here ever meets the default action (ending the process).
_lock = threading.Lock()
_installed = False


def _raise(signum: int, frame: FrameType | None) -> None:
    raise TerminationSignal(signum)


@contextmanager
def sigterm_raises() -> Iterator[bool]:
    """Installs the handler unless another one is set or this is not the main thread.

    Yields whether it did: only then can ``terminate_main_thread`` stop the flow.
    """
    global _installed
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        yield False
        return
    with _lock:
        signal.signal(signal.SIGTERM, _raise)
        _installed = True
    try:
        yield True
    finally:
        with _lock:
            _installed = False
            signal.signal(signal.SIGTERM, previous)


def terminate_main_thread() -> bool:
    """Raises ``TerminationSignal`` in the main thread, as SIGTERM would; False if it cannot."""
    with _lock:
        if not _installed:
            return False
        ident = threading.main_thread().ident
        assert ident is not None
        # Delivered to the main thread itself, so that a blocking call there is interrupted.
        signal.pthread_kill(ident, signal.SIGTERM)
        return True
