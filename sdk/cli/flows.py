"""``runplane flow``: list the flows the server knows."""

from __future__ import annotations

import functools
from typing import Annotated

import typer

from runplane._client.models import every_item
from runplane.cli.clients import reading_client
from runplane.cli.formatting import stdout_console, time_text
from runplane.cli.help_layout import CommandGroup
from runplane.cli.output import Column, OutputFormat, OutputOption, print_data, print_table

flow_app = CommandGroup(no_args_is_help=True, help="List flows.")

_COLUMNS = (
    Column("Name"),
    Column("ID", no_wrap=True),
    Column("Created", no_wrap=True),
    Column("Tags", wide=True),
)


@flow_app.command("ls")
def list_flows(
    prefix: Annotated[str, typer.Option(help="Only flows whose name starts with this.")] = "",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List flows by name."""
    with reading_client() as client:
        pages = functools.partial(client.list_flows, name_prefix=prefix, page_size=200)
        flows = list(every_item(lambda token: pages(page_token=token)))
    if print_data(flows, output):
        return
    rows = [
        [flow.name, str(flow.id), time_text(flow.create_time), ", ".join(flow.tags) or "-"]
        for flow in flows
    ]
    print_table(stdout_console(), _COLUMNS, rows, output, empty="no flows")
