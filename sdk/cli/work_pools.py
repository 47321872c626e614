"""``runplane work-pool``: list, create, inspect, pause and resume work pools, and set their
concurrency limits."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from runplane._errors import AlreadyExists, NotFound
from runplane._models import WorkPool
from runplane._sync_client import SyncRunplaneClient
from runplane.cli.work_queues import queue_table

work_pool_app = typer.Typer(no_args_is_help=True, help="Manage work pools.")
console = Console()

NameArgument = Annotated[str, typer.Argument(help="The pool's name.")]


@work_pool_app.command("ls")
def list_pools() -> None:
    """List work pools with their subscribed runners."""
    with SyncRunplaneClient() as client:
        page = client.list_work_pools(page_size=200)
    table = Table(box=None)
    for column in ("Name", "Runners", "Limit", "Paused", "Description"):
        table.add_column(column)
    for pool in page:
        limit = "" if pool.concurrency_limit is None else str(pool.concurrency_limit)
        paused = "yes" if pool.paused else ""
        table.add_row(pool.name, str(pool.subscriber_count), limit, paused, pool.description)
    console.print(table if page.items else "no work pools")


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
    with SyncRunplaneClient() as client:
        try:
            client.create_work_pool(
                name, description=description, concurrency_limit=limit, paused=paused
            )
        except AlreadyExists:
            console.print(f"a work pool named {name!r} exists already")
            raise typer.Exit(1) from None
    console.print(f"work pool {name} created")


@work_pool_app.command("inspect")
def inspect_pool(name: Annotated[str, typer.Argument(help="The pool's name.")]) -> None:
    """Show a work pool and its queues."""
    with SyncRunplaneClient() as client:
        try:
            pool = client.get_work_pool(name)
        except NotFound:
            console.print(f"no work pool named {name!r}")
            raise typer.Exit(1) from None
        queues = client.list_work_queues(name)
    console.print(
        f"[bold]{pool.name}[/bold]  runners: {pool.subscriber_count}  "
        f"limit: {pool.concurrency_limit if pool.concurrency_limit is not None else '-'}  "
        f"{'paused' if pool.paused else ''}"
    )
    console.print(queue_table(queues))


def _update(name: str, **fields: Any) -> WorkPool:
    with SyncRunplaneClient() as client:
        try:
            return client.update_work_pool(name, **fields)
        except NotFound:
            console.print(f"no work pool named {name!r}")
            raise typer.Exit(1) from None


@work_pool_app.command("pause")
def pause_pool(name: NameArgument) -> None:
    """Pause a work pool: its runners get no new runs until it is resumed."""
    _update(name, paused=True)
    console.print(f"work pool {name} paused")


@work_pool_app.command("resume")
def resume_pool(name: NameArgument) -> None:
    """Resume a paused work pool; its due runs go to its runners at once."""
    _update(name, paused=False)
    console.print(f"work pool {name} resumed")


@work_pool_app.command("set-limit")
def set_pool_limit(
    name: NameArgument,
    limit: Annotated[int, typer.Argument(min=0, help="Most runs active in the pool at once.")],
) -> None:
    """Set how many of a work pool's runs may be active at once."""
    _update(name, concurrency_limit=limit)
    console.print(f"work pool {name} runs at most {limit} at once")


@work_pool_app.command("clear-limit")
def clear_pool_limit(name: NameArgument) -> None:
    """Remove a work pool's concurrency limit."""
    _update(name, concurrency_limit=None)
    console.print(f"work pool {name} has no concurrency limit")
