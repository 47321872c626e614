"""Conversions between domain records and protobuf messages, shared by the servicers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2

from runplane._client import json_text as json_text_module
from runplane.server.db.records import FlowRecord
from runplane.v1 import flows_pb2


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def duration(seconds: float) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromTimedelta(timedelta(seconds=seconds))
    return message


def to_datetime(message: timestamp_pb2.Timestamp) -> datetime:
    return message.ToDatetime(tzinfo=UTC)


def json_text(value: Any, field: str) -> str:
    """A stored JSON value as the text of a ``*_json`` field."""
    return json_text_module.dumps(value, field)


def json_object_text(value: dict[str, Any] | None, field: str) -> str:
    """A stored JSON object as text; a missing one is ``{}``."""
    return json_text_module.dumps_object(value, field)


def flow(record: FlowRecord) -> flows_pb2.Flow:
    return flows_pb2.Flow(
        id=str(record.id),
        name=record.name,
        tags=record.tags,
        create_time=timestamp(record.create_time),
    )
