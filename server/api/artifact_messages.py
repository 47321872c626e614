"""Artifacts between protobuf and the repository, and the checks on their fields."""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import datetime
from urllib.parse import urlsplit

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
MAX_PROGRESS_LENGTH = 64
_KEY = re.compile(r"[a-z0-9-]+")
# A plain decimal, as JSON writes numbers (no "nan", "inf", "1_0" or hex, which float() takes).
_DECIMAL = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_IMAGE_SCHEMES = ("http", "https")
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
    data = request.data
    if kind == artifacts_pb2.ARTIFACT_TYPE_TABLE:
        _check_table("data", data)
    elif kind == artifacts_pb2.ARTIFACT_TYPE_PROGRESS:
        data = progress("data", data)
    elif kind == artifacts_pb2.ARTIFACT_TYPE_IMAGE:
        _check_image_url("data", data)
    return ArtifactRecord(
        id=uuid.uuid4(),
        key=artifact_key("key", request.key),
        type=kind,
        data=data,
        description=optional_text("description", request.description, MAX_DESCRIPTION_LENGTH),
        flow_run_id=parse_optional_uuid("flow_run_id", request.flow_run_id),
        task_run_id=parse_optional_uuid("task_run_id", request.task_run_id),
        create_time=now,
    )


def progress(field: str, data: str) -> str:
    """A progress artifact's data: a number from 0 to 100, returned in its shortest form."""
    text = data.strip()
    if not text:
        raise invalid_argument(field, "is required")
    if len(data) > MAX_PROGRESS_LENGTH:
        raise invalid_argument(
            field, f"a progress must be at most {MAX_PROGRESS_LENGTH} characters"
        )
    value = float(text) if _DECIMAL.fullmatch(text) else math.nan
    if not 0 <= value <= 100:  # also false for NaN, i.e. for anything not a number
        raise invalid_argument(
            field, f"a progress must be a number from 0 to 100, not {text!r:.40}"
        )
    return str(int(value)) if value.is_integer() else repr(value)


def _check_image_url(field: str, data: str) -> None:
    """An image artifact's data: an absolute http or https URL, nothing that runs script."""
    try:
        url = urlsplit(data)
    except ValueError:
        url = None
    # Spaces and control characters: a URL carries them escaped (%20), and a browser would
    # silently drop some of them, so that what is shown is not what was checked.
    clean = data.isprintable() and " " not in data
    if url is None or url.scheme.lower() not in _IMAGE_SCHEMES or not url.hostname or not clean:
        raise invalid_argument(field, "an image must be an absolute http or https URL")


def _check_table(field: str, data: str) -> None:
    """A table is JSON: a list of row objects, an object of column lists, or a list of rows
    as lists of one length."""
    try:
        table = json.loads(data)
    except ValueError:
        raise invalid_argument(field, "a table must be JSON") from None
    rows = isinstance(table, list) and all(isinstance(row, dict) for row in table)
    columns = isinstance(table, dict) and all(isinstance(col, list) for col in table.values())
    lists = isinstance(table, list) and all(isinstance(row, list) for row in table)
    if not (rows or columns or lists):
        raise invalid_argument(
            field, "a table is a list of row objects, an object of columns or a list of row lists"
        )
    if lists and len({len(row) for row in table}) > 1:
        raise invalid_argument(field, "the rows of a table of row lists must be of one length")
