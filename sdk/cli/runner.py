"""``runplane runner start``: execute the runs of a work pool."""

from __future__ import annotations

import logging
from typing import Annotated

import anyio
import typer

from runplane._client.models import SubscriptionStarted
from runplane.cli.formatting import stdout_console
from runplane.cli.help_layout import CommandGroup

runner_app = CommandGroup(no_args_is_help=True, help="Execute deployed flow runs.")


@runner_app.command("start")
def start(
    pool: Annotated[str, typer.Option(help="The work pool to take runs from.")],
    queue: Annotated[
        list[str] | None, typer.Option(help="Only these queues of the pool (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most runs in flight at once.")] = 4,
    name: Annotated[
        str | None, typer.Option(help="The runner's name; host-pid by default.")
    ] = None,
    on_shutdown: Annotated[
        str, typer.Option(help="On SIGTERM, runs in flight are: drain, reschedule or cancel.")
    ] = "drain",
    shutdown_grace: Annotated[
        float, typer.Option(min=0, help="Seconds to drain runs on SIGTERM.")
    ] = 30.0,
    cancel_grace: Annotated[
        float, typer.Option(min=0, help="Seconds a cancelled run gets before SIGKILL.")
    ] = 30.0,
    heartbeat_interval: Annotated[
        float | None,
        typer.Option(min=0.1, help="Heartbeat more often than the server asks (seconds)."),
    ] = None,
) -> None:
    """Subscribe to a work pool and run each assigned flow run in a process of its own."""
    from runplane.runner import SHUTDOWN_MODES, Runner

    if on_shutdown not in SHUTDOWN_MODES:
        raise typer.BadParameter(
            f"must be one of {', '.join(SHUTDOWN_MODES)}", param_hint="--on-shutdown"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    def subscribed(started: SubscriptionStarted) -> None:
        stdout_console().print(
            f"runner subscribed to work pool {pool} (session {started.session_id})"
        )

    runner = Runner(
        pool,
        queue or (),
        limit=limit,
        name=name,
        shutdown_mode=on_shutdown,  # type: ignore[arg-type,unused-ignore]  # checked above
        shutdown_grace=shutdown_grace,
        cancel_grace=cancel_grace,
        heartbeat_interval=heartbeat_interval,
        on_subscribed=subscribed,
    )
    anyio.run(runner.run)
    stdout_console().print("runner stopped")
