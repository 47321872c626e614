"""``create_markdown_artifact`` and friends: results published for people to read.

Each artifact is linked to the flow run and task run whose code publishes it (none outside
runs), through the same API as the engine. ``runplane artifact ls|inspect`` shows them, the
tables as tables.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from pydantic_core import to_jsonable_python

from runplane._client.models import ArtifactType
from runplane._engine.client import engine_client
from runplane._runtime.context import current_run_ids

Rows = Sequence[Mapping[str, Any]]
Columns = Mapping[str, Sequence[Any]]
RowLists = Sequence[Sequence[Any]]


def create_markdown_artifact(
    markdown: str, *, key: str | None = None, description: str | None = None
) -> UUID:
    """Publishes a Markdown report; returns the artifact's id."""
    return _publish(ArtifactType.MARKDOWN, markdown, key, description)


def create_table_artifact(
    table: Rows | Columns | RowLists,
    *,
    key: str | None = None,
    description: str | None = None,
    headers: Sequence[str] | None = None,
) -> UUID:
    """Publishes a table, given as rows (a list of dicts), columns (a dict of lists) or
    rows as lists of cells, all of one length; ``headers`` names the cells of row lists."""
    data = json.dumps(to_jsonable_python(_checked_table(table, headers)))
    return _publish(ArtifactType.TABLE, data, key, description)


def create_link_artifact(
    link: str,
    link_text: str | None = None,
    *,
    key: str | None = None,
    description: str | None = None,
) -> UUID:
    """Publishes a link (with ``link_text``, as Markdown ``[text](link)``)."""
    data = f"[{link_text}]({link})" if link_text else link
    return _publish(ArtifactType.LINK, data, key, description)


def create_progress_artifact(
    progress: float, *, key: str | None = None, description: str | None = None
) -> UUID:
    """Publishes how far some work has got, a percentage from 0 to 100; returns the
    artifact's id, for ``update_progress_artifact``."""
    return _publish(ArtifactType.PROGRESS, _progress_text(progress), key, description)


def update_progress_artifact(artifact_id: UUID, progress: float) -> UUID:
    """Sets a progress artifact's percentage in place; returns its id."""
    return engine_client().update_artifact(artifact_id, _progress_text(progress)).id


def create_image_artifact(
    image_url: str, *, key: str | None = None, description: str | None = None
) -> UUID:
    """Publishes an image to show, by its http or https URL; returns the artifact's id."""
    return _publish(ArtifactType.IMAGE, image_url, key, description)


def _progress_text(progress: float) -> str:
    # bool is a number, but True is no percentage; numbers.Real takes NumPy's numbers too.
    if isinstance(progress, bool) or not isinstance(progress, numbers.Real):
        raise TypeError(f"progress must be a number from 0 to 100, not {type(progress).__name__}")
    # The server checks the range too, for every client; this says it in the caller's words.
    if not 0 <= progress <= 100:
        raise ValueError(f"progress must be a number from 0 to 100, not {progress!r}")
    return repr(float(progress))


def _checked_table(table: Any, headers: Sequence[str] | None) -> Any:
    """The table as it is stored: rows, columns, or row lists (rows, with ``headers``)."""
    if headers is not None and not _is_list(headers):
        raise TypeError(f"headers must be a list of names, not {_kind(headers)}")
    if isinstance(table, Mapping):
        if headers is not None:
            raise TypeError("headers name the cells of row lists; a dict of columns has them")
        for name, column in table.items():
            if not _is_list(column):
                raise TypeError(f"table column {name!r} must be a list, not {_kind(column)}")
        return table
    if not _is_list(table):
        raise TypeError(
            "table must be a list of dicts (rows), a dict of lists (columns) or a list of "
            f"lists (rows of cells), not {_kind(table)}"
        )
    rows = list(table)
    as_dicts = bool(rows) and isinstance(rows[0], Mapping)
    for index, row in enumerate(rows):
        if isinstance(row, Mapping) != as_dicts or not (as_dicts or _is_list(row)):
            first = f" (row 0 is a {'dict' if as_dicts else 'list'})" if index else ""
            raise TypeError(
                f"table row {index} is {_kind(row)}{first}: give every row as a dict, or every "
                "row as a list"
            )
    if as_dicts:
        if headers is not None:
            raise TypeError("headers name the cells of row lists; dict rows have them")
        return rows
    width = len(headers) if headers is not None else len(rows[0]) if rows else 0
    for index, row in enumerate(rows):
        if len(row) != width:
            what = "headers" if headers is not None else "row 0"
            raise ValueError(f"table row {index} has {len(row)} cells, but {what} has {width}")
    if headers is None:
        return rows
    names = [str(name) for name in headers]
    if len(set(names)) != len(names):
        raise ValueError(f"headers must be distinct: {names}")
    if not rows:
        return {name: [] for name in names}  # columns: an empty table that keeps its headers
    return [dict(zip(names, row, strict=True)) for row in rows]


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _kind(value: Any) -> str:
    return "a str" if isinstance(value, str) else f"a {type(value).__name__}"


def _publish(kind: ArtifactType, data: str, key: str | None, description: str | None) -> UUID:
    flow_run_id, task_run_id = current_run_ids()
    artifact = engine_client().create_artifact(
        kind,
        data,
        key=key,
        description=description or "",
        flow_run_id=flow_run_id,
        task_run_id=task_run_id,
    )
    return artifact.id
