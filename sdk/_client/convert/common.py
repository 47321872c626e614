"""Scalars on the wire: ids, timestamps, durations, enum numbers and JSON values as text.

Empty strings on the wire are ``None`` in the models and unset timestamps are ``None``. JSON
values (parameters, job variables, variables, inline results) travel as JSON text, so they
keep their Python types: integers of any size, and floats that happen to be whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import grpc
from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from runplane._client import json_text
from runplane._client.errors import FieldViolation, InvalidArgument
from runplane._client.json_text import JSONTextError

V = TypeVar("V")
M = TypeVar("M", bound=BaseModel)

_set = object.__setattr__


def decoded(model: type[M], **values: Any) -> M:
    """A model of a server answer, built from every one of its field values unvalidated.

    What ``model.model_construct(**values)`` builds, in a third of its time: these models are
    decoded several times per call on the client's hot path, each value is already of its
    field's type, and pydantic's own constructor spends most of its time on defaults and
    aliases that a complete set of values does not need. ``test_decoded_models`` holds it to
    ``model_construct``'s result for each decoder.
    """
    built = model.__new__(model)
    _set(built, "__dict__", values)
    _set(built, "__pydantic_fields_set__", set(values))
    _set(built, "__pydantic_extra__", None)
    _set(built, "__pydantic_private__", None)
    return built


def enum_from_pb(table: Mapping[Any, V], key: int, what: str) -> V:
    """The model value for an enum number; ValueError names ``what`` for a number not known."""
    try:
        return table[key]
    except KeyError:
        raise ValueError(f"unknown {what}: {key!r}") from None


def uuid_from_pb(text: str) -> UUID | None:
    """The UUID in an id string; the empty string is None."""
    return UUID(text) if text else None


def uuids_from_pb(texts: Iterable[str]) -> tuple[UUID, ...]:
    """The UUIDs in repeated id strings."""
    return tuple(UUID(text) for text in texts)


def id_to_pb(value: UUID | None) -> str:
    """The id string for a UUID; None is the empty string."""
    return "" if value is None else str(value)


def ids_to_pb(values: Iterable[UUID]) -> list[str]:
    """The id strings for UUIDs."""
    return [str(value) for value in values]


def timestamp_field(message: Message, field: str) -> datetime | None:
    """The aware UTC datetime in ``message.<field>``, None when unset."""
    if not message.HasField(field):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


def timestamp_to_pb(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    """A protobuf Timestamp for an aware datetime; None stays unset."""
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def timestamp_from_pb(stamp: timestamp_pb2.Timestamp) -> datetime:
    """An aware UTC datetime for a protobuf Timestamp."""
    return stamp.ToDatetime(tzinfo=UTC)


def duration_field(message: Message, field: str) -> timedelta | None:
    """The timedelta in ``message.<field>``, None when unset."""
    if not message.HasField(field):
        return None
    duration: duration_pb2.Duration = getattr(message, field)
    return duration.ToTimedelta()


def duration_to_pb(value: timedelta | None) -> duration_pb2.Duration | None:
    """A protobuf Duration for a timedelta; None stays unset."""
    if value is None:
        return None
    duration = duration_pb2.Duration()
    duration.FromTimedelta(value)
    return duration


def _refused(error: JSONTextError) -> InvalidArgument:
    """The error for a value that cannot be sent, shaped as the server's own would be."""
    refused = InvalidArgument(
        f"invalid {error.path}: {error.problem}",
        code=grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
    )
    refused.violations = (FieldViolation(field=error.path, description=error.problem),)
    return refused


def json_to_pb(value: Any, field: str) -> str:
    """JSON text for any JSON-compatible value, None included; UUIDs, datetimes and models
    become their JSON forms. NaN and Infinity raise ``InvalidArgument`` naming their path
    (``parameters.x``), before anything is sent."""
    try:
        return json_text.dumps(to_jsonable_python(value), field)
    except JSONTextError as error:
        raise _refused(error) from None


def json_from_pb(text: str) -> Any:
    """The value of JSON text; integers keep every digit and ``1.0`` stays a float."""
    return json.loads(text)


def json_object_to_pb(data: Mapping[str, Any] | None, field: str) -> str:
    """JSON text for a JSON object; None and an empty mapping are sent as nothing."""
    return json_to_pb(dict(data), field) if data else ""


def json_object_from_pb(text: str) -> dict[str, Any]:
    """The object in a JSON-text field; the empty string is ``{}``."""
    if not text:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {json_text.json_type(value)}")
    return value
