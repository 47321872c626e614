"""``runplane concurrency-limit``: list, set, inspect and delete named concurrency limits.

A limit named ``tag:<tag>`` caps task runs with that tag; any other name caps the
``runplane.concurrency(name)`` blocks that take its slots.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from runplane._client.errors import NotFound
from runplane._client.sync_client import SyncRunplaneClient
from runplane.cli.clients import reading_client
from runplane.cli.formatting import stdout_console, terminal_safe
from runplane.cli.help_layout import CommandGroup
from runplane.cli.output import Column, OutputFormat, OutputOption, print_data, print_table

concurrency_limit_app = CommandGroup(no_args_is_help=True, help="Manage concurrency limits.")

NameArgument = Annotated[str, typer.Argument(help="The limit's name (tag:<tag> for task tags).")]


_COLUMNS = (Column("Name"), Column("Limit"), Column("Active slots"), Column("Decay per second"))


@concurrency_limit_app.command("ls")
def list_limits(output: OutputOption = OutputFormat.TABLE) -> None:
    """List concurrency limits with the slots held now."""
    with reading_client() as client:
        limits = client.all_concurrency_limits()
    if print_data(limits, output):
        return
    rows = [
        [limit.name, str(limit.limit), str(limit.active_slots), f"{limit.slot_decay_per_second:g}"]
        for limit in limits
    ]
    print_table(stdout_console(), _COLUMNS, rows, output, empty="no concurrency limits")


DecayOption = Annotated[
    float | None,
    typer.Option(
        "--slot-decay-per-second",
        min=0.0,
        help="Make it a rate limit: slots taken are freed at this rate, not on release.",
    ),
]


@concurrency_limit_app.command("set")
def set_limit(
    name: NameArgument,
    limit: Annotated[int, typer.Argument(min=0, help="Most slots held at once; 0 blocks all.")],
    slot_decay_per_second: DecayOption = None,
) -> None:
    """Create a concurrency limit, or change an existing one's value (its decay is kept
    unless given)."""
    _save(name, limit, slot_decay_per_second)


@concurrency_limit_app.command("create")
def create_limit(
    name: NameArgument,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Most slots held at once; 0 blocks all.")
    ],
    slot_decay_per_second: DecayOption = None,
) -> None:
    """Create a concurrency limit (or change the one with that name), as `set` does."""
    _save(name, limit, slot_decay_per_second)


def _save(name: str, limit: int, slot_decay_per_second: float | None) -> None:
    with SyncRunplaneClient() as client:
        if slot_decay_per_second is None:
            try:
                slot_decay_per_second = client.get_concurrency_limit(name).slot_decay_per_second
            except NotFound:
                slot_decay_per_second = 0.0
        client.create_concurrency_limit(name, limit, slot_decay_per_second=slot_decay_per_second)
    decay = f", {slot_decay_per_second:g} slots freed per second" if slot_decay_per_second else ""
    stdout_console().print(f"concurrency limit {name} is {limit}{decay}", markup=False)


@concurrency_limit_app.command("inspect")
def inspect_limit(name: NameArgument, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show a concurrency limit and the slots held now."""
    with reading_client() as client:
        try:
            limit = client.get_concurrency_limit(name)
        except NotFound:
            stdout_console().print(f"no concurrency limit named {name!r}", markup=False)
            raise typer.Exit(1) from None
    if print_data(limit, output):
        return
    stdout_console().print(
        f"[bold]{escape(terminal_safe(limit.name))}[/bold]  "
        f"limit: {limit.limit}  active: {limit.active_slots}"
        + (f"  decay: {limit.slot_decay_per_second:g}/s" if limit.slot_decay_per_second else "")
    )


@concurrency_limit_app.command("delete")
def delete_limit(name: NameArgument) -> None:
    """Delete a concurrency limit; the slots it held are gone with it."""
    with SyncRunplaneClient() as client:
        try:
            client.delete_concurrency_limit(name)
        except NotFound:
            stdout_console().print(f"no concurrency limit named {name!r}", markup=False)
            raise typer.Exit(1) from None
    stdout_console().print(f"concurrency limit {name} deleted")
