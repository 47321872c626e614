"""``runplane artifact``: list, show and delete what runs published."""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from runplane._client.errors import NotFound
from runplane._client.models import Artifact, ArtifactType
from runplane._client.sync_client import SyncRunplaneClient
from runplane.cli import ids
from runplane.cli.clients import reading_client
from runplane.cli.formatting import shortened, stdout_console, terminal_safe, time_text
from runplane.cli.help_layout import CommandGroup
from runplane.cli.output import Column, OutputFormat, OutputOption, print_data, print_table

artifact_app = CommandGroup(no_args_is_help=True, help="Show what runs published.")

IdArgument = Annotated[
    str, typer.Argument(help="The artifact's id, or a unique prefix of it (6+ characters).")
]
SHOWN_DATA_LENGTH = 50
PROGRESS_BAR_WIDTH = 40
# "[text](url)", as create_link_artifact writes a link with text.
_MARKDOWN_LINK = re.compile(r"\[(?P<text>.*)\]\((?P<url>[^()\s]*)\)", re.DOTALL)

_COLUMNS = (
    Column("ID", no_wrap=True),
    Column("Key"),
    Column("Type"),
    Column("Created", no_wrap=True),
    Column("Flow run", no_wrap=True),
    Column("Data"),
    Column("Task run", wide=True, no_wrap=True),
    Column("Description", wide=True),
)


@artifact_app.command("ls")
def list_artifacts(
    key: Annotated[str | None, typer.Option(help="Only the versions of this key.")] = None,
    flow_run: Annotated[
        str | None, typer.Option(help="Only this flow run's (its id or a unique prefix).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 50,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List artifacts, newest first."""
    with reading_client() as client:
        run_id = None if flow_run is None else ids.flow_run_id(client, flow_run)
        artifacts = client.list_artifacts(key=key, flow_run_id=run_id, page_size=limit).items
    if print_data(artifacts, output):
        return
    rows = [
        [
            str(artifact.id),
            artifact.key or "",
            artifact.type.value.lower(),
            time_text(artifact.create_time),
            str(artifact.flow_run_id or ""),
            shortened(" ".join(_data_text(artifact).split()), SHOWN_DATA_LENGTH),
            str(artifact.task_run_id or ""),
            artifact.description,
        ]
        for artifact in artifacts
    ]
    print_table(stdout_console(), _COLUMNS, rows, output, empty="no artifacts")


@artifact_app.command("inspect")
def inspect_artifact(artifact_id: IdArgument, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show an artifact: Markdown rendered, a table as a table, a link with its URL, a
    progress as a bar."""
    with reading_client() as client:
        found = ids.artifact_id(client, artifact_id)
        try:
            artifact = client.get_artifact(found)
        except NotFound:
            stdout_console().print(f"no artifact {found}")
            raise typer.Exit(1) from None
    if print_data(artifact, output):
        return
    title = terminal_safe(artifact.key or str(artifact.id))
    stdout_console().print(f"[bold]{escape(title)}[/bold]  {artifact.type.value.lower()}")
    if artifact.description:
        stdout_console().print(escape(terminal_safe(artifact.description)))
    stdout_console().print(_rendered(artifact))


@artifact_app.command("delete")
def delete_artifact(artifact_id: IdArgument) -> None:
    """Delete an artifact."""
    with SyncRunplaneClient() as client:
        found = ids.artifact_id(client, artifact_id)
        try:
            client.delete_artifact(found)
        except NotFound:
            stdout_console().print(f"no artifact {found}")
            raise typer.Exit(1) from None
    stdout_console().print(f"artifact {found} deleted")


def _data_text(artifact: Artifact) -> str:
    """The data as one line of the list: a progress with its percent sign."""
    if artifact.type is ArtifactType.PROGRESS:
        return f"{artifact.data}%"
    return artifact.data


def _rendered(artifact: Artifact) -> Any:
    data = terminal_safe(artifact.data)
    if artifact.type is ArtifactType.TABLE:
        return _table(json.loads(artifact.data))
    if artifact.type is ArtifactType.LINK:
        return Text(link_text(data))
    if artifact.type is ArtifactType.PROGRESS:
        return _progress_bar(artifact.data)
    if artifact.type is ArtifactType.IMAGE:
        return Text(f"image <{data}>")
    # Imported here: rich's Markdown brings markdown-it and pygments, which every other
    # command (and ``--help``) would load for nothing.
    from rich.markdown import Markdown

    return Markdown(data)


def link_text(data: str) -> str:
    """A link artifact's text and URL, both shown whether or not the output is a terminal:
    "text <url>", or the URL alone when it has no text."""
    link = _MARKDOWN_LINK.fullmatch(data.strip())
    if link is None:
        return data
    return f"{link['text']} <{link['url']}>"


def _progress_bar(data: str) -> Table | Text:
    """A bar and its percentage, the bar in plain characters so that a file shows it too."""
    try:
        percent = float(data)
    except ValueError:
        percent = math.nan
    if not 0 <= percent <= 100:  # the server refuses such data; an old row is shown as is
        return Text(terminal_safe(data))
    filled = round(percent / 100 * PROGRESS_BAR_WIDTH)
    line = Table.grid(padding=(0, 1))
    line.add_row(Text("█" * filled + "░" * (PROGRESS_BAR_WIDTH - filled)), Text(f"{percent:g}%"))
    return line


def _table(data: Any) -> Table:
    """Rows (a list of objects), columns (an object of lists) or rows as lists of cells (a
    table without headers), as the server checked."""
    if isinstance(data, list) and data and all(isinstance(row, list) for row in data):
        headless = Table(show_header=False)
        for row in data:
            headless.add_row(*(Text(terminal_safe(str(value))) for value in row))
        return headless
    if isinstance(data, dict):
        columns = list(data)
        height = max((len(values) for values in data.values()), default=0)
        rows = [[data[c][i] if i < len(data[c]) else "" for c in columns] for i in range(height)]
    else:
        columns = list(dict.fromkeys(name for row in data for name in row))
        rows = [[row.get(c, "") for c in columns] for row in data]
    table = Table()
    for column in columns:
        table.add_column(Text(terminal_safe(str(column))))
    for row in rows:
        table.add_row(*(Text(terminal_safe(str(value))) for value in row))
    return table
