"""Artifacts between protobuf and the repository, and the checks on their fields."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime

from runplane.server.api import convert
from runplane.server.api.errors import invalid_argument
from runplane.server.api.validation import (
    enum_value,
    identifier,
    optional_text,
    parse_optional_uuid,
)
from runplane.server.db.artifacts import ArtifactRecord
from runplane.v1 import artifacts_pb2

MAX_KEY_LENGTH = 255
MAX_DATA_BYTES = 1024 * 1024
MAX_DESCRIPTION_LENGTH = 10_000
_KEY = re.compile(r"[a-z0-9-]+")
_TYPES = tuple(artifacts_pb2.ArtifactType.values())


def artifact(record: ArtifactRecord) -> artifacts_pb2.Artifact:
    return artifacts_pb2.Artifact(
        id=str(record.id),
        key=record.key or "",
        type=record.type,  # type: ignore[arg-type]
        data=record.data,
        description=record.description,
        flow_run_id=str(record.flow_run_id) if record.flow_run_id else "",
        task_run_id=str(record.task_run_id) if record.task_run_id else "",
        create_time=convert.timestamp(record.create_time),
    )


def artifact_key(field: str, key: str) -> str | None:
    """An optional key: lowercase letters, digits and '-'."""
    if not key:
        return None
    return identifier(field, key, _KEY, "lowercase letters, digits and '-'", MAX_KEY_LENGTH)


def new_artifact(request: artifacts_pb2.CreateArtifactRequest, now: datetime) -> ArtifactRecord:
    """The artifact a create request describes, its fields checked."""
    kind = enum_value("type", request.type, _TYPES)
    if not request.data:
        raise invalid_argument("data", "is required")
    if len(request.data.encode()) > MAX_DATA_BYTES:
        raise invalid_argument("data", f"must be at most {MAX_DATA_BYTES} bytes")
    if kind == artifacts_pb2.ARTIFACT_TYPE_TABLE:
        _check_table("data", request.data)
    return ArtifactRecord(
        id=uuid.uuid4(),
        key=artifact_key("key", request.key),
        type=kind,
        data=request.data,
        description=optional_text("description", request.description, MAX_DESCRIPTION_LENGTH),
        flow_run_id=parse_optional_uuid("flow_run_id", request.flow_run_id),
        task_run_id=parse_optional_uuid("task_run_id", request.task_run_id),
        create_time=now,
    )


def _check_table(field: str, data: str) -> None:
    """A table is JSON: a list of row objects, or an object of column lists."""
    try:
        table = json.loads(data)
    except ValueError:
        raise invalid_argument(field, "a table must be JSON") from None
    rows = isinstance(table, list) and all(isinstance(row, dict) for row in table)
    columns = isinstance(table, dict) and all(isinstance(col, list) for col in table.values())
    if not (rows or columns):
        raise invalid_argument(field, "a table is a list of row objects or an object of columns")
