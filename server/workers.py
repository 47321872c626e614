"""Several server processes on one port, for a machine with more cores than one event loop uses.

Each worker is a whole server (API, loops, delivery) in a process of its own; the kernel
spreads incoming connections over them (``SO_REUSEPORT``), and they share everything else
through PostgreSQL, as separate servers on one database do: claims and writes are
transactions, loops take an advisory lock per pass, and a change one worker makes reaches the
streams of the others through LISTEN/NOTIFY. SQLite has no such channel between processes,
so several workers need PostgreSQL.

The supervising process migrates the database once, checks that nothing else holds the port,
starts the workers and restarts one that dies while serving. A worker that dies before it
serves stops them all: the same failure would repeat. A stop signal reaches every worker,
each finishing its in-flight calls as a single server does.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from types import FrameType

from runplane.server.listen import PortInUseError, port_in_use
from runplane.server.settings import ServerSettings, SettingsError

logger = logging.getLogger(__name__)

# Seconds that workers get beyond the grace period to exit after a stop signal.
_STOP_MARGIN = 15.0
# A worker that dies is started again no sooner than this after its previous start, so that
# one dying over and over does not take the machine's CPU.
_RESTART_SECONDS = 1.0


def supervise(settings: ServerSettings, log_level: int = logging.INFO) -> int:
    """Serves with ``settings.workers`` processes until a stop signal; the exit code."""
    if not settings.resolved_database_url().startswith("postgresql"):
        raise SettingsError(
            "RUNPLANE_SERVER_WORKERS above 1 needs PostgreSQL (RUNPLANE_DATABASE_URL): "
            "workers share their changes through it"
        )
    from runplane.server.api_keys import accepted_api_keys
    from runplane.server.serve import migrate
    from runplane.server.tls import server_credentials

    # What every worker reads as it starts, read once first: a mistake stops the server here,
    # with its one-line message, instead of in each worker.
    accepted_api_keys(settings)
    server_credentials(settings)
    port = _free_port(settings.host, settings.port)
    asyncio.run(migrate(settings))
    supervisor = _Supervisor(settings.model_copy(update={"port": port}), log_level)
    return supervisor.run()


def _free_port(host: str, port: int) -> int:
    """``port`` when nothing holds it (a free one for 0); PortInUseError otherwise.

    Workers bind with ``SO_REUSEPORT``, which would let them share the port with another
    server of the same user: this bind without it fails instead while anything holds it.
    """
    if port != 0:
        if port_in_use(host, port):
            raise PortInUseError(host, port)
        return port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def serve_worker(settings: ServerSettings, log_level: int, serving: EventType) -> None:
    """A worker process's body: one server on the shared port; sets ``serving`` once it
    listens."""
    from runplane.server.serve import run

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    _stop_with_supervisor()
    try:
        run(settings, share_port=True, on_serving=serving.set)
    except (SettingsError, PortInUseError) as error:
        # As `server start` says it: one line, no traceback.
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2 if isinstance(error, SettingsError) else 1)


def _stop_with_supervisor() -> None:
    """Shuts this worker down, as a stop signal does, when the supervisor ends without
    stopping it (killed): a worker left behind would keep the port, and the supervisor
    started again would find it taken."""
    supervisor = multiprocessing.parent_process()
    if supervisor is None:
        return

    def watch() -> None:
        wait([supervisor.sentinel])
        logger.warning("the supervising process ended: shutting down")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="runplane-supervisor-watch", daemon=True).start()


@dataclass(frozen=True, slots=True)
class _Worker:
    process: BaseProcess
    serving: EventType
    """Set by the worker once it serves: a worker that dies before failed to start."""
    started: float
    """`time.monotonic()` at its start, which paces restarts."""


class _Supervisor:
    def __init__(self, settings: ServerSettings, log_level: int) -> None:
        self._settings = settings
        self._log_level = log_level
        self._context = multiprocessing.get_context("spawn")
        self._workers: dict[int, _Worker] = {}
        self._stopping = False

    def run(self) -> int:
        previous = {
            signum: signal.signal(signum, self._stop) for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for index in range(self._settings.workers):
                self._start(index)
            logger.info(
                "%d workers serving on %s:%d",
                self._settings.workers,
                self._settings.host,
                self._settings.port,
            )
            return self._watch()
        finally:
            self._stop_workers()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _start(self, index: int) -> None:
        # The dashboard has one port: the first worker serves it.
        update = {} if index == 0 else {"dashboard_enabled": False}
        settings = self._settings.model_copy(update=update)
        serving = self._context.Event()
        process = self._context.Process(
            target=serve_worker,
            args=(settings, self._log_level, serving),
            name=f"runplane-server-{index}",
        )
        process.start()
        self._workers[index] = _Worker(process, serving, time.monotonic())

    def _watch(self) -> int:
        """Restarts a worker that dies while serving; the exit code once stopped."""
        while not self._stopping:
            sentinels = {w.process.sentinel: index for index, w in self._workers.items()}
            for ready in wait(list(sentinels), timeout=1.0):
                index = sentinels[ready]  # type: ignore[index]
                worker = self._workers[index]
                worker.process.join()
                if self._stopping:
                    break
                code = worker.process.exitcode
                if not worker.serving.is_set():
                    logger.error("worker %d failed to start (exit code %s)", index, code)
                    return code or 1
                logger.error("worker %d exited with code %s; starting another", index, code)
                pause = worker.started + _RESTART_SECONDS - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                if not self._stopping:
                    self._start(index)
        return 0

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _stop_workers(self) -> None:
        for worker in self._workers.values():
            if worker.process.is_alive():
                worker.process.terminate()  # SIGTERM: the worker's graceful shutdown
        deadline = time.monotonic() + self._settings.shutdown_grace + _STOP_MARGIN
        for process in (worker.process for worker in self._workers.values()):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.error("worker %s did not stop in time; killing it", process.name)
                process.kill()
                process.join()
