"""``runplane variable``: list, read, set and unset variables."""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any

import typer

from runplane._client.errors import AlreadyExists, NotFound
from runplane._client.models import every_item
from runplane._client.sync_client import SyncRunplaneClient
from runplane.cli.clients import reading_client
from runplane.cli.formatting import shortened, stdout_console, time_text
from runplane.cli.help_layout import CommandGroup
from runplane.cli.output import Column, OutputFormat, OutputOption, print_data, print_table
from runplane.cli.values import json_or_text

variable_app = CommandGroup(no_args_is_help=True, help="Manage variables.")

NameArgument = Annotated[str, typer.Argument(help="The variable's name.")]
SHOWN_VALUE_LENGTH = 60


@variable_app.command("ls")
def list_variables(
    prefix: Annotated[str, typer.Option(help="Only names starting with this.")] = "",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List variables with their values."""
    with reading_client() as client:
        pages = functools.partial(client.list_variables, name_prefix=prefix, page_size=200)
        variables = list(every_item(lambda token: pages(page_token=token)))
    if print_data(variables, output):
        return
    # Wide shows whole values; the table cuts them to keep one variable a line.
    rows = [
        [
            variable.name,
            _value_text(variable.value, output),
            ", ".join(variable.tags),
            time_text(variable.update_time),
        ]
        for variable in variables
    ]
    print_table(stdout_console(), _COLUMNS, rows, output, empty="no variables")


_COLUMNS = (Column("Name"), Column("Value"), Column("Tags"), Column("Updated", no_wrap=True))


def _value_text(value: Any, output: OutputFormat) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if output is OutputFormat.WIDE else shortened(text, SHOWN_VALUE_LENGTH)


@variable_app.command("get")
def get_variable(name: NameArgument) -> None:
    """Print a variable's value as JSON."""
    with reading_client() as client:
        try:
            variable = client.get_variable(name)
        except NotFound:
            stdout_console().print(f"no variable named {name!r}", markup=False)
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
            stdout_console().print(
                f"a variable named {name!r} exists already; --overwrite replaces it"
            )
            raise typer.Exit(1) from None
    stdout_console().print(f"variable {name} set")


@variable_app.command("unset")
def unset_variable(name: NameArgument) -> None:
    """Delete a variable."""
    with SyncRunplaneClient() as client:
        try:
            client.delete_variable(name)
        except NotFound:
            stdout_console().print(f"no variable named {name!r}", markup=False)
            raise typer.Exit(1) from None
    stdout_console().print(f"variable {name} unset")
