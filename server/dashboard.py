"""The web dashboard that ``runplane server start`` serves beside the gRPC API.

It is a client of this server like any other: it reaches it on loopback through the API,
with the key (``RUNPLANE_API_KEY``) and TLS roots (``RUNPLANE_TLS_*``) of the environment, and
never touches the database.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from runplane._client.settings import Settings
from runplane.server.listen import PortInUseError
from runplane.server.settings import ServerSettings

if TYPE_CHECKING:
    from runplane.dashboard import RunningDashboard

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def dashboard_beside(
    settings: ServerSettings, api_port: int
) -> AsyncIterator[RunningDashboard | None]:
    """Serves the dashboard, when enabled, over the API at ``api_port`` until the block ends;
    yields where it listens (None when it is turned off)."""
    if not settings.dashboard_enabled:
        yield None
        return
    from runplane.dashboard import serving

    scheme = "https://" if settings.tls_cert is not None else ""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    client_settings = Settings().model_copy(update={"api_url": f"{scheme}{host}:{api_port}"})
    async with contextlib.AsyncExitStack() as stack:
        try:
            running = await stack.enter_async_context(
                serving(client_settings, settings.dashboard_host, settings.dashboard_port)
            )
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUseError(settings.dashboard_host, settings.dashboard_port) from None
            raise
        logger.info("dashboard on %s", running.url)
        yield running
