"""Serving the dashboard with uvicorn inside a running event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn

from runplane._client.client import RunplaneClient
from runplane._client.settings import Settings
from runplane.dashboard._app import create_app

# Seconds that open pages' event streams get to end when the dashboard stops.
_SHUTDOWN_GRACE = 1


@dataclass(frozen=True)
class RunningDashboard:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free one); an address in use raises OSError here."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, host: str = "127.0.0.1", port: int = 4201
) -> AsyncIterator[RunningDashboard]:
    """Serves the dashboard over the API that ``settings`` reach until the block ends."""
    sock = bind(host, port)
    async with RunplaneClient(settings) as client:
        app = create_app(client)
        config = uvicorn.Config(
            app,
            log_level="warning",
            timeout_graceful_shutdown=_SHUTDOWN_GRACE,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        # Started by its parts rather than serve(), which would take over SIGINT and SIGTERM:
        # the signals belong to whoever runs the loop (the control plane, or the command).
        config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        loop = asyncio.create_task(server.main_loop())
        try:
            yield RunningDashboard(host, sock.getsockname()[1])
        finally:
            server.should_exit = True
            await loop
            await server.shutdown(sockets=[sock])
            sock.close()
