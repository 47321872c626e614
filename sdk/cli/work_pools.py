"""``runplane work-pool``: list, create, inspect, pause and resume work pools, and set their
concurrency limits."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from runplane._client.errors import AlreadyExists, NotFound
from runplane._client.models import WorkPool
from runplane._client.sync_client import SyncRunplaneClient
from runplane.cli.clients import reading_client
from runplane.cli.formatting import stdout_console, terminal_safe
from runplane.cli.help_layout import CommandGroup
from runplane.cli.output import (
    Column,
    OutputFormat,
    OutputOption,
    print_data,
    print_table,
    structured_text,
)
from runplane.cli.work_queues import print_queues

work_pool_app = CommandGroup(no_args_is_help=True, help="Manage work pools.")

NameArgument = Annotated[str, typer.Argument(help="The pool's name.")]


@work_pool_app.command("ls")
def list_pools(output: OutputOption = OutputFormat.TABLE) -> None:
    """List work pools with their subscribed runners."""
    with reading_client() as client:
        pools = client.list_work_pools(page_size=200).items
    if print_data(pools, output):
        return
    rows = [
        [
            pool.name,
            str(pool.subscriber_count),
            "" if pool.concurrency_limit is None else str(pool.concurrency_limit),
            "yes" if pool.paused else "",
            pool.description,
        ]
        for pool in pools
    ]
    print_table(stdout_console(), _POOL_COLUMNS, rows, output, empty="no work pools")


_POOL_COLUMNS = (
    Column("Name"),
    Column("Runners"),
    Column("Limit"),
    Column("Paused"),
    Column("Description"),
)


@work_pool_app.command("create")
def create_pool(
    name: Annotated[str, typer.Argument(help="The pool's name.")],
    description: Annotated[str, typer.Option(help="Free-form description.")] = "",
    limit: Annotated[
        int | None, typer.Option(min=0, help="Most runs active in the pool at once.")
    ] = None,
    paused: Annotated[bool, typer.Option(help="Create it paused.")] = False,
) -> None:
    """Create a work pool."""
    with reading_client() as client:
        try:
            client.create_work_pool(
                name, description=description, concurrency_limit=limit, paused=paused
            )
        except AlreadyExists:
            stdout_console().print(f"a work pool named {name!r} exists already")
            raise typer.Exit(1) from None
    stdout_console().print(f"work pool {name} created")


@work_pool_app.command("inspect")
def inspect_pool(
    name: Annotated[str, typer.Argument(help="The pool's name.")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show a work pool and its queues."""
    with SyncRunplaneClient() as client:
        try:
            pool = client.get_work_pool(name)
        except NotFound:
            stdout_console().print(f"no work pool named {name!r}", markup=False)
            raise typer.Exit(1) from None
        queues = client.list_work_queues(name)
    if output in (OutputFormat.JSON, OutputFormat.YAML):
        plain = pool.model_dump(mode="json")
        plain["queues"] = [queue.model_dump(mode="json") for queue in queues]
        sys.stdout.write(structured_text(plain, output))
        return
    limit = pool.concurrency_limit if pool.concurrency_limit is not None else "-"
    stdout_console().print(
        terminal_safe(
            f"{pool.name}  runners: {pool.subscriber_count}  limit: {limit}  "
            f"{'paused' if pool.paused else ''}"
        ),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    print_queues(queues, output)


def _update(name: str, **fields: Any) -> WorkPool:
    with SyncRunplaneClient() as client:
        try:
            return client.update_work_pool(name, **fields)
        except NotFound:
            stdout_console().print(f"no work pool named {name!r}")
            raise typer.Exit(1) from None


@work_pool_app.command("pause")
def pause_pool(name: NameArgument) -> None:
    """Pause a work pool: its runners get no new runs until it is resumed."""
    _update(name, paused=True)
    stdout_console().print(f"work pool {name} paused")


@work_pool_app.command("resume")
def resume_pool(name: NameArgument) -> None:
    """Resume a paused work pool; its due runs go to its runners at once."""
    _update(name, paused=False)
    stdout_console().print(f"work pool {name} resumed")


@work_pool_app.command("set-limit")
def set_pool_limit(
    name: NameArgument,
    limit: Annotated[int, typer.Argument(min=0, help="Most runs active in the pool at once.")],
) -> None:
    """Set how many of a work pool's runs may be active at once."""
    _update(name, concurrency_limit=limit)
    stdout_console().print(f"work pool {name} runs at most {limit} at once")


@work_pool_app.command("clear-limit")
def clear_pool_limit(name: NameArgument) -> None:
    """Remove a work pool's concurrency limit."""
    _update(name, concurrency_limit=None)
    stdout_console().print(f"work pool {name} has no concurrency limit")
