"""``runplane dashboard``: serve the web dashboard over any runplane server's API."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runplane.cli.formatting import stdout_console

if TYPE_CHECKING:
    from runplane._client.settings import Settings


def dashboard(
    host: Annotated[
        str, typer.Option(help="Address to bind; 0.0.0.0 exposes it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 4201,
) -> None:
    """Serve the web dashboard for the server at RUNPLANE_API_URL (with RUNPLANE_API_KEY and
    the TLS settings), or for the embedded one when it is unset; Ctrl-C stops it."""
    from runplane._client.embedded import ensure_api_url
    from runplane._client.settings import Settings  # loaded on use, for a fast CLI

    settings = Settings()
    if not settings.api_url:
        settings = settings.model_copy(update={"api_url": ensure_api_url(settings)})
    try:
        _run(_serve(settings, host, port))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        typer.echo(f"error: cannot serve the dashboard on {host}:{port}: {error}", err=True)
        raise typer.Exit(code=1) from None


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """On uvloop where it is installed, as the server runs: on asyncio's own loop answers
    were about 40 ms slower in the benchmark (bench/dashboard.py)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


async def _serve(settings: Settings, host: str, port: int) -> None:
    from runplane.dashboard import serving

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with serving(settings, host, port) as running:
        stdout_console().print(
            f"runplane dashboard on [bold]{running.url}[/] (API: {settings.api_url})",
            soft_wrap=True,
        )
        await stop.wait()
