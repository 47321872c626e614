"""Turns SIGTERM into ``TerminationSignal`` while a top-level flow runs on the main thread.

The same path stops a cancelled run that no runner holds: ``terminate_main_thread`` sends
the main thread the SIGTERM a runner would send its process, and the engine then finds the
run CANCELLING and reports it CANCELLED.

A SIGTERM sent to the process may be taken by any of its threads (gRPC's among them).
Python then runs the handler on the main thread only when that thread next executes
bytecode, which a thread blocked in a wait or a sleep may not do for a long time. The
signal module's wakeup file descriptor tells a forwarding thread of every signal taken,
and it re-sends SIGTERM to the main thread itself, which interrupts the blocking call.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from runplane._engine.errors import TerminationSignal

# Held while the handler is installed or removed, and while a signal is sent to the main
# thread, so that no signal sent here ever meets the default action (ending the process).
_lock = threading.Lock()
_installed = False
# Set once the handler has raised; later SIGTERMs (a forwarded copy among them) must not
# interrupt the crash report that the first one started.
_raised = threading.Event()
# How long the forwarder lets the main thread take a SIGTERM by itself before re-sending it.
_FORWARD_AFTER = 0.05


def _raise(signum: int, frame: FrameType | None) -> None:
    if _raised.is_set():
        return
    _raised.set()
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
        _raised.clear()
        signal.signal(signal.SIGTERM, _raise)
        _installed = True
    forwarding = _start_forwarding()
    try:
        yield True
    finally:
        try:
            if forwarding is not None:
                forwarding()
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


class _Forwarder:
    """A thread that reads the wakeup file descriptor; one a process, started when first needed."""

    def __init__(self) -> None:
        self.receiver, self.sender = socket.socketpair()
        self.sender.setblocking(False)
        threading.Thread(target=self._forward, name="runplane-sigterm", daemon=True).start()

    def _forward(self) -> None:
        while True:
            try:
                taken = self.receiver.recv(64)
            except OSError:
                return
            if not taken:
                return
            if signal.SIGTERM in taken and not _raised.wait(_FORWARD_AFTER):
                terminate_main_thread()

    def release_wakeup_fd(self) -> None:
        """Stops being the wakeup file descriptor, unless another owner has replaced it."""
        current = signal.set_wakeup_fd(-1)
        if current != self.sender.fileno():
            signal.set_wakeup_fd(current)

    def close(self) -> None:
        self.receiver.close()
        self.sender.close()


_forwarder: _Forwarder | None = None


def _start_forwarding() -> Callable[[], None] | None:
    """Starts forwarding SIGTERMs to the main thread; returns what stops it.

    None when the wakeup file descriptor is already someone else's (an event loop that
    handles signals, say): it stays theirs, and their loop wakes the main thread anyway.
    """
    global _forwarder
    if _forwarder is None:
        _forwarder = _Forwarder()
    previous = signal.set_wakeup_fd(_forwarder.sender.fileno(), warn_on_full_buffer=False)
    if previous != -1:
        signal.set_wakeup_fd(previous)
        return None
    return _forwarder.release_wakeup_fd


def _forget_forwarder() -> None:
    """A forked child has the forwarder's sockets but not its thread: it starts its own."""
    global _forwarder
    if _forwarder is not None:
        _forwarder.release_wakeup_fd()
        _forwarder.close()
        _forwarder = None


os.register_at_fork(after_in_child=_forget_forwarder)
