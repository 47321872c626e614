"""The embedded default: with no ``RUNPLANE_API_URL``, a server runs inside the process.

The first client that needs it starts a control plane on the SQLite database in
``RUNPLANE_HOME`` (one per home, per process), listening on a free loopback port, on
a daemon thread with its own event loop. It stops at interpreter exit. A process that
only reads (the CLI's ``ls``, ``inspect``, ``logs`` and ``watch``) asks for one without the
background loops: a listing then neither waits for nor causes the scheduler's and reapers'
writes. Several
processes may each run one on the same home: they share the SQLite file, which the
server opens in WAL mode with a busy timeout. ``runplane.server`` (and with it
SQLAlchemy) is imported only here, and only when a server is actually started.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runplane._client.settings import Settings

if TYPE_CHECKING:
    from runplane.server import RunplaneServer

__all__ = ["EmbeddedServer", "ensure_api_url"]

START_TIMEOUT = 120.0
"""Seconds to wait for the server to migrate its database and listen."""
STOP_TIMEOUT = 10.0


@dataclass
class EmbeddedServer:
    """A server running on its own loop thread in this process."""

    home: Path
    address: str
    server: RunplaneServer
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    pid: int

    def stop(self) -> None:
        """Stops serving and ends the loop thread; a no-op in a forked child."""
        if self.pid != os.getpid() or not self.thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self.server.stop(grace=1.0), self.loop)
        try:
            future.result(STOP_TIMEOUT)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(STOP_TIMEOUT)


_servers: dict[tuple[Path, bool], EmbeddedServer] = {}
_lock = threading.Lock()


def ensure_api_url(settings: Settings, *, background_loops: bool = True) -> str:
    """``settings.api_url`` when set; else the address of this process's embedded server
    for ``settings.home``, started on first use. Blocks while the server starts.

    ``background_loops=False`` asks for a server that only answers calls: no scheduler,
    late marker or reapers run in it (work delivery and watch streams still do).
    """
    if settings.api_url:
        return settings.api_url
    home = settings.home.expanduser().resolve()
    with _lock:
        running = _servers.get((home, background_loops))
        if running is None or not _usable(running):
            running = _start(home, background_loops)
            _servers[(home, background_loops)] = running
        return running.address


def _usable(running: EmbeddedServer) -> bool:
    # A forked child inherits the parent's entry; the parent's server still answers.
    return running.pid != os.getpid() or running.thread.is_alive()


def _start(home: Path, background_loops: bool) -> EmbeddedServer:
    from runplane.server import ServerSettings, create_server

    settings = ServerSettings(
        home=home,
        database_url=f"sqlite+aiosqlite:///{home / 'runplane.db'}",
        host="127.0.0.1",
        port=0,
        api_keys=[],
        api_keys_file=None,
        tls_cert=None,
        tls_key=None,
        tls_client_ca=None,
        loops_enabled=background_loops,
    )
    loop = asyncio.new_event_loop()
    started = threading.Event()
    outcome: list[RunplaneServer | BaseException] = []

    async def serve() -> None:
        try:
            server = await create_server(settings)
            await server.start()
            outcome.append(server)
        except BaseException as err:
            outcome.append(err)
            raise
        finally:
            started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        except BaseException:
            return
        loop.run_forever()

    thread = threading.Thread(target=run, name="runplane-embedded-server", daemon=True)
    thread.start()
    if not started.wait(START_TIMEOUT):
        raise RuntimeError(f"the embedded runplane server in {home} did not start in time")
    result = outcome[0]
    if isinstance(result, BaseException):
        thread.join(STOP_TIMEOUT)
        loop.close()
        raise RuntimeError(f"the embedded runplane server in {home} failed to start") from result
    running = EmbeddedServer(
        home=home,
        address=f"127.0.0.1:{result.port}",
        server=result,
        loop=loop,
        thread=thread,
        pid=os.getpid(),
    )
    atexit.register(_stop_quietly, running)
    return running


def _stop_quietly(running: EmbeddedServer) -> None:
    try:
        running.stop()
    except Exception:  # at exit there is nobody left to tell
        return
