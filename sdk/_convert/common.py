"""Scalars on the wire: ids, timestamps, durations, enum numbers and JSON as ``Struct``/``Value``.

Empty strings on the wire are ``None`` in the models, unset timestamps are ``None``, and JSON
numbers that are whole come back as ``int`` because ``google.protobuf.Struct`` stores every
number as a double.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from google.protobuf import duration_pb2, json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message
from pydantic_core import to_jsonable_python

V = TypeVar("V")


_MAX_EXACT_FLOAT_INT = 2**53


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


def _whole_numbers_as_int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_EXACT_FLOAT_INT:
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers_as_int(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_int(item) for item in value]
    return value


def struct_to_pb(data: Mapping[str, Any] | None) -> struct_pb2.Struct:
    """A Struct for a JSON object; UUIDs, datetimes and models become their JSON forms."""
    struct = struct_pb2.Struct()
    if data:
        struct.update(to_jsonable_python(dict(data)))
    return struct


def struct_from_pb(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A plain dict for a Struct."""
    result: dict[str, Any] = _whole_numbers_as_int(json_format.MessageToDict(struct))
    return result


def value_to_pb(value: Any) -> struct_pb2.Value:
    """A protobuf Value for any JSON-compatible object, None included."""
    return json_format.ParseDict(to_jsonable_python(value), struct_pb2.Value())


def value_from_pb(value: struct_pb2.Value) -> Any:
    """The Python object of a protobuf Value."""
    return _whole_numbers_as_int(json_format.MessageToDict(value))
