"""States as the database keeps them, and as the rules see them.

A stored state keeps its details as the JSON form of ``StateDetails`` (field names as in the
proto, timestamps as RFC 3339 text), so that what a client sent comes back unchanged,
including the details the rules do not look at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2

from runplane.server.db.ids import time_ordered_uuid
from runplane.server.db.run_records import StateRecord
from runplane.server.orchestration import StateSpec, StateType

# The stored details that are plain text, and those that are timestamps.
DETAIL_TEXTS = frozenset(
    {
        "cache_key",
        "transition_id",
        "lease_id",
        "child_flow_run_id",
        "upstream_task_run_id",
        "pause_input_schema_json",
        "resume_input_json",
    }
)
PAUSE_INPUT_SCHEMA = "pause_input_schema_json"
RESUME_INPUT = "resume_input_json"
DETAIL_TIMES = frozenset({"scheduled_time", "cache_expiration", "pause_deadline"})


@dataclass(frozen=True, slots=True)
class ProposedState:
    """A validated state from a request: what the rules see, and what they do not."""

    spec: StateSpec
    result: dict[str, Any] | None = None
    extra_details: dict[str, Any] = field(default_factory=dict)
    """Details kept as sent: cache_expiration, child_flow_run_id, upstream_task_run_id,
    pause_input_schema_json, resume_input_json."""
    cache_expiration: datetime | None = None


def timestamp_json(value: datetime) -> str:
    """A time in the JSON form of a protobuf Timestamp, as stored details hold it."""
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message.ToJsonString()


def _stored_time(text: str | None) -> datetime | None:
    if not text:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromJsonString(text)
    return message.ToDatetime(tzinfo=UTC)


def scheduled_details(scheduled_time: datetime) -> dict[str, Any]:
    """StateDetails of a SCHEDULED state in their stored JSON form (proto field names)."""
    return {"scheduled_time": timestamp_json(scheduled_time)}


def stored_state(
    spec: StateSpec, proposed: ProposedState | None, timestamp: datetime
) -> StateRecord:
    """The state to record. The proposal's result and extra details go with it only when it
    is of the proposed type: a substitute such as AwaitingRetry does not carry them."""
    carry = proposed is not None and proposed.spec.type is spec.type
    details: dict[str, Any] = {}
    if spec.scheduled_time is not None:
        details["scheduled_time"] = timestamp_json(spec.scheduled_time)
    if spec.cache_key:
        details["cache_key"] = spec.cache_key
    if spec.retriable:
        details["retriable"] = True
    if spec.transition_id:
        details["transition_id"] = spec.transition_id
    if spec.lease_id:
        details["lease_id"] = spec.lease_id
    if spec.pause_deadline is not None:
        details["pause_deadline"] = timestamp_json(spec.pause_deadline)
    if carry and proposed is not None:
        details.update(proposed.extra_details)
    return StateRecord(
        id=time_ordered_uuid(),
        type=int(spec.type),
        name=spec.name,
        timestamp=timestamp,
        message=spec.message,
        result=proposed.result if carry and proposed is not None else None,
        details=details or None,
    )


def spec_from_record(record: StateRecord) -> StateSpec:
    """The stored state as the rules see it."""
    stored = record.details or {}
    return StateSpec(
        type=StateType(record.type),
        name=record.name,
        message=record.message,
        scheduled_time=_stored_time(stored.get("scheduled_time")),
        result_persisted=record.result is not None,
        retriable=True if stored.get("retriable") else None,
        transition_id=stored.get("transition_id", ""),
        lease_id=stored.get("lease_id", ""),
        pause_deadline=_stored_time(stored.get("pause_deadline")),
        cache_key=stored.get("cache_key", ""),
    )
