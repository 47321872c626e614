"""``runplane variable``: list, read, set and unset variables."""

from __future__ import annotations

import functools
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runplane._errors import AlreadyExists, NotFound
from runplane._models import every_item
from runplane._sync_client import SyncRunplaneClient
from runplane.cli.formatting import shortened, time_text
from runplane.cli.values import json_or_text

variable_app = typer.Typer(no_args_is_help=True, help="Manage variables.")
console = Console()

NameArgument = Annotated[str, typer.Argument(help="The variable's name.")]
SHOWN_VALUE_LENGTH = 60


@variable_app.command("ls")
def list_variables(
    prefix: Annotated[str, typer.Option(help="Only names starting with this.")] = "",
) -> None:
    """List variables with their values."""
    with SyncRunplaneClient() as client:
        pages = functools.partial(client.list_variables, name_prefix=prefix, page_size=200)
        variables = list(every_item(lambda token: pages(page_token=token)))
    table = Table(box=None)
    for column in ("Name", "Value", "Tags", "Updated"):
        table.add_column(column)
    for variable in variables:
        value = shortened(json.dumps(variable.value), SHOWN_VALUE_LENGTH)
        updated = time_text(variable.update_time)
        table.add_row(variable.name, escape(value), ", ".join(variable.tags), updated)
    console.print(table if variables else "no variables")


@variable_app.command("get")
def get_variable(name: NameArgument) -> None:
    """Print a variable's value as JSON."""
    with SyncRunplaneClient() as client:
        try:
            variable = client.get_variable(name)
        except NotFound:
            console.print(f"no variable named {name!r}")
            raise typer.Exit(1) from None
    # Plain print: the output is JSON for scripts, without rich's markup or wrapping.
    print(json.dumps(variable.value))


@variable_app.command("set")
def set_variable(
    name: NameArgument,
    value: Annotated[str, typer.Argument(help="JSON (42, true, [1, 2], {...}), else text.")],
    tag: Annotated[list[str] | None, typer.Option(help="A tag; repeat for several.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing variable.")] = False,
) -> None:
    """Store a variable."""
    with SyncRunplaneClient() as client:
        try:
            client.set_variable(name, json_or_text(value), tags=tag or (), overwrite=overwrite)
        except AlreadyExists:
            console.print(f"a variable named {name!r} exists already; --overwrite replaces it")
            raise typer.Exit(1) from None
    console.print(f"variable {name} set")


@variable_app.command("unset")
def unset_variable(name: NameArgument) -> None:
    """Delete a variable."""
    with SyncRunplaneClient() as client:
        try:
            client.delete_variable(name)
        except NotFound:
            console.print(f"no variable named {name!r}")
            raise typer.Exit(1) from None
    console.print(f"variable {name} unset")
