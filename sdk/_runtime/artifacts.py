"""``create_markdown_artifact`` and friends: results published for people to read.

Each artifact is linked to the flow run and task run whose code publishes it (none outside
runs), through the same API as the engine. ``runplane artifact ls|inspect`` shows them, the
tables as tables.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from pydantic_core import to_jsonable_python

from runplane._client.models import ArtifactType
from runplane._engine.client import engine_client
from runplane._runtime.context import current_run_ids


def create_markdown_artifact(
    markdown: str, *, key: str | None = None, description: str = ""
) -> UUID:
    """Publishes a Markdown report; returns the artifact's id."""
    return _publish(ArtifactType.MARKDOWN, markdown, key, description)


def create_table_artifact(
    table: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
    *,
    key: str | None = None,
    description: str = "",
) -> UUID:
    """Publishes a table, given as rows (a list of dicts) or columns (a dict of lists)."""
    data = json.dumps(to_jsonable_python(table))
    return _publish(ArtifactType.TABLE, data, key, description)


def create_link_artifact(
    link: str, link_text: str | None = None, *, key: str | None = None, description: str = ""
) -> UUID:
    """Publishes a link (with ``link_text``, as Markdown ``[text](link)``)."""
    data = f"[{link_text}]({link})" if link_text else link
    return _publish(ArtifactType.LINK, data, key, description)


def _publish(kind: ArtifactType, data: str, key: str | None, description: str) -> UUID:
    flow_run_id, task_run_id = current_run_ids()
    artifact = engine_client().create_artifact(
        kind,
        data,
        key=key,
        description=description,
        flow_run_id=flow_run_id,
        task_run_id=task_run_id,
    )
    return artifact.id
