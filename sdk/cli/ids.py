"""Ids typed on the command line: a whole UUID, or a unique prefix of at least six characters.

A prefix is matched against the canonical text of the ids the server lists (lowercase, with
hyphens), so ``3f2a9c`` and ``3F2A9C`` find the same run. The server has no prefix query, so
a prefix costs one listing of that kind of object; a whole id costs nothing.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Annotated

import typer

from runplane._client.models import FlowRun, every_item
from runplane._client.sync_client import SyncRunplaneClient
from runplane.cli.formatting import terminal_safe

MIN_PREFIX_LENGTH = 6
_PREFIX = re.compile(r"[0-9a-f-]+")
# Ambiguous prefixes list at most this many candidates; more would bury the answer.
_SHOWN_CANDIDATES = 10

FlowRunIdArgument = Annotated[
    str,
    typer.Argument(
        metavar="FLOW_RUN_ID", help="The flow run id, or a unique prefix of it (6+ characters)."
    ),
]


def as_uuid(text: str) -> uuid.UUID | None:
    """The UUID the text spells whole, else None."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def check_prefix(text: str, kind: str) -> str:
    """The prefix in canonical (lowercase) form; ``typer.BadParameter`` when it cannot be one."""
    prefix = text.strip().lower()
    if len(prefix) < MIN_PREFIX_LENGTH or not _PREFIX.fullmatch(prefix):
        raise typer.BadParameter(
            f"{text!r} is not a {kind} id or a prefix of one "
            f"(at least {MIN_PREFIX_LENGTH} hexadecimal characters)"
        )
    return prefix


def match_prefix(text: str, kind: str, candidates: Iterable[tuple[uuid.UUID, str]]) -> uuid.UUID:
    """The one candidate id that starts with the prefix ``text``; each candidate is an id and
    a label to show when the prefix is ambiguous. Ends the command with exit code 1 when no
    candidate or several match."""
    prefix = check_prefix(text, kind)
    found = [(id_, label) for id_, label in candidates if str(id_).startswith(prefix)]
    if len(found) == 1:
        return found[0][0]
    if not found:
        typer.echo(f"no {kind} with an id starting with {prefix!r}", err=True)
        raise typer.Exit(1)
    lines = [f"  {id_}  {terminal_safe(label)}" for id_, label in found[:_SHOWN_CANDIDATES]]
    if len(found) > _SHOWN_CANDIDATES:
        lines.append(f"  ... and {len(found) - _SHOWN_CANDIDATES} more")
    typer.echo(
        f"{prefix!r} is the start of {len(found)} {kind} ids; type more of it:\n"
        + "\n".join(lines),
        err=True,
    )
    raise typer.Exit(1)


def resolve(
    text: str, kind: str, candidates: Callable[[], Iterable[tuple[uuid.UUID, str]]]
) -> uuid.UUID:
    """The id ``text`` names, whole or as a prefix; ``candidates`` is listed only for a prefix."""
    whole = as_uuid(text)
    return whole if whole is not None else match_prefix(text, kind, candidates())


def flow_run_id(client: SyncRunplaneClient, text: str) -> uuid.UUID:
    """The flow run id ``text`` names, whole or as a unique prefix."""

    def runs() -> Iterable[tuple[uuid.UUID, str]]:
        pages = functools.partial(client.list_flow_runs, page_size=500)
        return (_labelled(run) for run in every_item(lambda token: pages(page_token=token)))

    return resolve(text, "flow run", runs)


def artifact_id(client: SyncRunplaneClient, text: str) -> uuid.UUID:
    """The artifact id ``text`` names, whole or as a unique prefix."""

    def artifacts() -> Iterable[tuple[uuid.UUID, str]]:
        pages = functools.partial(client.list_artifacts, page_size=200)
        return (
            (artifact.id, artifact.key or artifact.type.value.lower())
            for artifact in every_item(lambda token: pages(page_token=token))
        )

    return resolve(text, "artifact", artifacts)


def deployment_id(client: SyncRunplaneClient, text: str) -> uuid.UUID:
    """The deployment id ``text`` names, whole or as a unique prefix."""

    def deployments() -> Iterable[tuple[uuid.UUID, str]]:
        pages = functools.partial(client.list_deployments, page_size=200)
        return (
            (item.id, f"{item.flow_name}/{item.name}")
            for item in every_item(lambda token: pages(page_token=token))
            if item.id is not None
        )

    return resolve(text, "deployment", deployments)


def _labelled(run: FlowRun) -> tuple[uuid.UUID, str]:
    state = run.state.name if run.state else "-"
    return run.id, f"{run.name}  {run.flow_name}  {state}"
