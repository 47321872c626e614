"""``runplane concurrency-limit``: list, set, inspect and delete named concurrency limits.

A limit named ``tag:<tag>`` caps task runs with that tag; any other name caps the
``runplane.concurrency(name)`` blocks that take its slots.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from runplane._errors import NotFound
from runplane._sync_client import SyncRunplaneClient

concurrency_limit_app = typer.Typer(no_args_is_help=True, help="Manage concurrency limits.")
console = Console()

NameArgument = Annotated[str, typer.Argument(help="The limit's name (tag:<tag> for task tags).")]


@concurrency_limit_app.command("ls")
def list_limits() -> None:
    """List concurrency limits with the slots held now."""
    with SyncRunplaneClient() as client:
        limits = client.all_concurrency_limits()
    table = Table(box=None)
    for column in ("Name", "Limit", "Active slots"):
        table.add_column(column)
    for limit in limits:
        table.add_row(limit.name, str(limit.limit), str(limit.active_slots))
    console.print(table if limits else "no concurrency limits")


@concurrency_limit_app.command("set")
def set_limit(
    name: NameArgument,
    limit: Annotated[int, typer.Argument(min=0, help="Most slots held at once; 0 blocks all.")],
) -> None:
    """Create a concurrency limit, or change an existing one's value."""
    with SyncRunplaneClient() as client:
        client.create_concurrency_limit(name, limit)
    console.print(f"concurrency limit {name} is {limit}")


@concurrency_limit_app.command("inspect")
def inspect_limit(name: NameArgument) -> None:
    """Show a concurrency limit and the slots held now."""
    with SyncRunplaneClient() as client:
        try:
            limit = client.get_concurrency_limit(name)
        except NotFound:
            console.print(f"no concurrency limit named {name!r}")
            raise typer.Exit(1) from None
    console.print(f"[bold]{limit.name}[/bold]  limit: {limit.limit}  active: {limit.active_slots}")


@concurrency_limit_app.command("delete")
def delete_limit(name: NameArgument) -> None:
    """Delete a concurrency limit; the slots it held are gone with it."""
    with SyncRunplaneClient() as client:
        try:
            client.delete_concurrency_limit(name)
        except NotFound:
            console.print(f"no concurrency limit named {name!r}")
            raise typer.Exit(1) from None
    console.print(f"concurrency limit {name} deleted")
