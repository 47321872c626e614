"""``runplane server``: serve the control plane and migrate its database."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer
from rich.markup import escape

from runplane.cli.formatting import stdout_console
from runplane.cli.help_layout import CommandGroup

server_app = CommandGroup(no_args_is_help=True, help="Run the control plane.")


@server_app.command("start")
def start(
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to bind; 0.0.0.0 exposes it. [default: $RUNPLANE_SERVER_HOST, 127.0.0.1]",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            help="Port to listen on; 0 picks a free one. [default: $RUNPLANE_SERVER_PORT, 4200]",
            show_default=False,
            min=0,
            max=65535,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Server processes sharing the port; above 1 needs PostgreSQL. "
            "[default: $RUNPLANE_SERVER_WORKERS, 1]",
            show_default=False,
            min=1,
            max=64,
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="Python logging level.")] = "INFO",
) -> None:
    """Serve the gRPC control plane (migrations are applied first)."""
    from runplane.cli.config import build_settings
    from runplane.server.listen import PortInUseError
    from runplane.server.serve import run
    from runplane.server.settings import ServerSettings, SettingsError

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # Options given on the command line win over the environment; the others come from it.
    given = {"host": host, "port": port, "workers": workers}
    overrides = {name: value for name, value in given.items() if value is not None}
    problems: list[str] = []
    found = build_settings(ServerSettings, "server", problems)
    if found is None:
        # One line per variable to fix, with any secret in it masked, as `config show` says.
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(code=2)
    settings = found.model_copy(update=overrides)
    url = settings.resolved_database_url()
    address = f"{settings.host}:{settings.port}"
    # soft_wrap: one line however narrow the terminal, so that the URL can be copied whole.
    stdout_console().print(
        f"runplane server on [bold]{address}[/] (database: {escape(_safe(url))})", soft_wrap=True
    )
    if settings.dashboard_enabled:
        dashboard = f"http://{settings.dashboard_host}:{settings.dashboard_port}"
        stdout_console().print(f"dashboard on [bold]{dashboard}[/]", soft_wrap=True)
    try:
        if settings.workers > 1:
            from runplane.server.workers import supervise

            code = supervise(settings, logging.getLogger().level)
            if code:
                raise typer.Exit(code=code)
        else:
            run(settings)
    except SettingsError as error:
        # A setting to fix, not a bug: its message alone, without a traceback.
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    except PortInUseError as error:
        # Another server (or program) has the port: say which, without a traceback.
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None


@server_app.command("migrate")
def migrate() -> None:
    """Apply pending database migrations and exit."""
    from runplane.server.serve import migrate as run_migrations
    from runplane.server.settings import ServerSettings

    url = asyncio.run(run_migrations(ServerSettings()))
    stdout_console().print(f"database is up to date: {url}")


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
