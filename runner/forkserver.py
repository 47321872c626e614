"""The fork server: ``python -m runplane.runner.forkserver FD [RUNNER_PID]``.

Starting a flow run's process from scratch costs an interpreter start and the import of the
engine (a few hundred milliseconds of CPU), which decides how fast a burst of runs reaches its
flow bodies. The runner therefore starts this process once: it imports the engine ahead of time
and then forks one child per run. A child becomes the leader of a session of its own, takes the
run's environment and runs ``runplane.runner.execute`` as a fresh process would; it ends
through the interpreter's normal exit, so ``atexit`` handlers (the log shipper's flush) run.

It dies with the runner: the kernel sends it SIGKILL when its parent dies
(``PR_SET_PDEATHSIG``), and it exits at once if the runner, whose pid is ``RUNNER_PID``, died
before it asked; the runner's hang-up ends it too. Its children watch the runner themselves
(``runplane.runner._lifeline``).

The runner talks to it over the socket ``FD``, one JSON object per line:

- runner → fork server: ``{"env": {...}}``: start a run's process with that environment.
- fork server → runner: ``{"ready": true}`` once the engine is imported; ``{"pid": N}`` (or
  ``{"error": "..."}``) answering each start, in order; ``{"exited": N, "code": C}`` when a
  child ends, with ``C`` negative for a signal, as ``subprocess`` reports it.

The fork server holds no thread and no gRPC channel, so forking it is safe. It ignores SIGINT
and SIGTERM (a terminal's Ctrl-C reaches the runner's whole process group; the runner decides
what happens to its runs) and exits when the runner closes the socket; running children are
in sessions of their own and live on.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
from collections.abc import Iterator, Mapping

from runplane.runner._lifeline import set_parent_death_signal

# What a run's process imports anyway, imported once here instead of in every run.
PRELOAD = (
    "runplane.runner.execute",
    "runplane.engine",
    "runplane._engine.client",
    "runplane._engine.flow_run",
    "runplane._engine.flow_calls",
    "runplane._engine.task_calls",
    "runplane._engine.reporter",
    "runplane._engine.subflows",
    "runplane._engine.hooks",
    "runplane._engine.timeouts",
    "runplane._client.sync_client",
    "runplane._runtime.run_logs",
    "runplane._runtime.results",
    "grpc._channel",
    "concurrent.futures.thread",
)

_READ_SIZE = 65536


def _preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError as error:
            # A missing module only costs the child its own import later.
            print(f"runplane fork server: cannot preload {name}: {error}", file=sys.stderr)


def _send(control: socket.socket, message: Mapping[str, object]) -> None:
    control.sendall(json.dumps(message).encode() + b"\n")


def _lines(buffer: bytearray, data: bytes) -> Iterator[bytes]:
    buffer.extend(data)
    while (end := buffer.find(b"\n")) >= 0:
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        yield line


def _reap(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(control, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _serve(control: socket.socket) -> dict[str, str] | None:
    """Answers the runner until it hangs up (``None``); in a forked child, returns the run's
    environment instead, after closing everything that belongs to the fork server."""
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_read, False)
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    # A handler (not SIG_DFL) so that SIGCHLD writes to the wakeup pipe.
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    pending = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(control, selectors.EVENT_READ)
        selector.register(wakeup_read, selectors.EVENT_READ)
        _send(control, {"ready": True})
        while True:
            for key, _ in selector.select():
                if key.fd == wakeup_read:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wakeup_read, _READ_SIZE)
                    _reap(control)
                    continue
                data = control.recv(_READ_SIZE)
                if not data:
                    return None
                for line in _lines(pending, data):
                    env = _start(control, line)
                    if env is not None:
                        # The child: nothing of the fork server's stays open in it.
                        signal.set_wakeup_fd(-1)
                        os.close(wakeup_read)
                        os.close(wakeup_write)
                        control.close()
                        return env


def _start(control: socket.socket, line: bytes) -> dict[str, str] | None:
    """Forks a run's process; returns its environment in the child and ``None`` here."""
    try:
        request = json.loads(line)
        env = {str(key): str(value) for key, value in request["env"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        _send(control, {"error": f"bad request: {error}"})
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError as error:
        _send(control, {"error": f"fork failed: {error}"})
        return None
    if pid == 0:
        return env
    _send(control, {"pid": pid})
    return None


def _become_run_process(env: Mapping[str, str]) -> int:
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()
    os.environ.update(env)
    gc.enable()
    from runplane.runner import execute

    sys.argv = [execute.__file__ or "execute.py"]  # as ``python -m`` would have it
    return execute.main()


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print("usage: python -m runplane.runner.forkserver FD [RUNNER_PID]", file=sys.stderr)
        return 2
    if len(sys.argv) == 3:
        set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != int(sys.argv[2]):
            return 0  # the runner died before the kernel could be asked to tell
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    control = socket.socket(fileno=int(sys.argv[1]))
    # What is imported here lives on in every child: kept out of the collector's reach, it is
    # neither scanned by the children's collections nor copied into them on write.
    gc.disable()
    _preload()
    gc.freeze()
    try:
        env = _serve(control)
    except (BrokenPipeError, ConnectionResetError):
        return 0  # the runner is gone
    if env is None:
        return 0
    return _become_run_process(env)


if __name__ == "__main__":
    sys.exit(main())
