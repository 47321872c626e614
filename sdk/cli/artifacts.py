"""``runplane artifact``: list, show and delete what runs published."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from runplane._errors import NotFound
from runplane._models import Artifact, ArtifactType
from runplane._sync_client import SyncRunplaneClient
from runplane.cli.formatting import shortened, time_text

artifact_app = typer.Typer(no_args_is_help=True, help="Show what runs published.")
console = Console()

IdArgument = Annotated[uuid.UUID, typer.Argument(help="The artifact's id.")]
SHOWN_DATA_LENGTH = 50


@artifact_app.command("ls")
def list_artifacts(
    key: Annotated[str | None, typer.Option(help="Only the versions of this key.")] = None,
    flow_run: Annotated[uuid.UUID | None, typer.Option(help="Only this flow run's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 50,
) -> None:
    """List artifacts, newest first."""
    with SyncRunplaneClient() as client:
        page = client.list_artifacts(key=key, flow_run_id=flow_run, page_size=limit)
    table = Table(box=None)
    for column in ("ID", "Key", "Type", "Created", "Flow run", "Data"):
        table.add_column(column, no_wrap=column == "ID")
    for artifact in page:
        table.add_row(
            str(artifact.id),
            artifact.key or "",
            artifact.type.value.lower(),
            time_text(artifact.create_time),
            str(artifact.flow_run_id or ""),
            escape(shortened(" ".join(artifact.data.split()), SHOWN_DATA_LENGTH)),
        )
    console.print(table if page.items else "no artifacts")


@artifact_app.command("inspect")
def inspect_artifact(artifact_id: IdArgument) -> None:
    """Show an artifact: Markdown rendered, a table as a table."""
    with SyncRunplaneClient() as client:
        try:
            artifact = client.get_artifact(artifact_id)
        except NotFound:
            console.print(f"no artifact {artifact_id}")
            raise typer.Exit(1) from None
    title = artifact.key or str(artifact.id)
    console.print(f"[bold]{escape(title)}[/bold]  {artifact.type.value.lower()}")
    if artifact.description:
        console.print(escape(artifact.description))
    console.print(_rendered(artifact))


@artifact_app.command("delete")
def delete_artifact(artifact_id: IdArgument) -> None:
    """Delete an artifact."""
    with SyncRunplaneClient() as client:
        try:
            client.delete_artifact(artifact_id)
        except NotFound:
            console.print(f"no artifact {artifact_id}")
            raise typer.Exit(1) from None
    console.print(f"artifact {artifact_id} deleted")


def _rendered(artifact: Artifact) -> Any:
    if artifact.type is ArtifactType.TABLE:
        return _table(json.loads(artifact.data))
    if artifact.type is ArtifactType.MARKDOWN or artifact.data.startswith("["):
        return Markdown(artifact.data)
    return escape(artifact.data)


def _table(data: Any) -> Table:
    """Rows (a list of objects) or columns (an object of lists), as the server checked."""
    if isinstance(data, dict):
        columns = list(data)
        height = max((len(values) for values in data.values()), default=0)
        rows = [[data[c][i] if i < len(data[c]) else "" for c in columns] for i in range(height)]
    else:
        columns = list(dict.fromkeys(name for row in data for name in row))
        rows = [[row.get(c, "") for c in columns] for row in data]
    table = Table()
    for column in columns:
        table.add_column(escape(str(column)))
    for row in rows:
        table.add_row(*(escape(str(value)) for value in row))
    return table
