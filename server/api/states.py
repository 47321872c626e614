"""States between the wire and their stored form (see
:mod:`runplane.server.transitions.stored_states`).

A stored state keeps its result reference and details as the JSON forms of ``ResultRef``
and ``StateDetails`` (field names as in the proto), so that what a client sent comes back
unchanged, including the details the rules do not look at. An inline result is the one
exception: it is stored as the JSON value itself, under ``inline_value``, and travels as the
text of ``inline_value_json``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import json_format, timestamp_pb2

from runplane._client.json_text import value_path, value_root
from runplane.server.api import convert
from runplane.server.api.errors import ApiError, invalid_argument
from runplane.server.api.validation import (
    check_label,
    enum_value,
    json_value,
    optional_name,
    optional_text,
    parse_optional_uuid,
)
from runplane.server.db.run_records import StateRecord
from runplane.server.orchestration import (
    MAX_CACHE_KEY_LENGTH,
    Decision,
    OrchestrationStatus,
    StateSpec,
    StateType,
)
from runplane.server.orchestration.pause_input import schema_problem
from runplane.server.transitions.flow_runs import Result, ResumeInputRefused
from runplane.server.transitions.stored_states import (
    DETAIL_TEXTS,
    DETAIL_TIMES,
    PAUSE_INPUT_SCHEMA,
    RESUME_INPUT,
    ProposedState,
)
from runplane.v1 import states_pb2

MAX_STATE_NAME_LENGTH = 64
MAX_STATE_MESSAGE_LENGTH = 1_000_000
MAX_REFERENCE_LENGTH = 2000
# Inline results ride in every read of the run's state: larger ones belong in result storage.
MAX_INLINE_RESULT_BYTES = 64 * 1024
# A pause's input schema and a resume's input ride in the run's state the same way.
MAX_PAUSE_INPUT_BYTES = 64 * 1024
# The key of a stored reference's inline value, kept as JSON data rather than text.
_INLINE = "inline_value"
_STATE_TYPES = frozenset(int(t) for t in StateType)
# Timestamps a datetime can hold: years 1 to 9999.
_MIN_SECONDS = -62135596800
_MAX_SECONDS = 253402300799


def parse_timestamp(name: str, message: timestamp_pb2.Timestamp) -> datetime:
    if not _MIN_SECONDS <= message.seconds <= _MAX_SECONDS or not 0 <= message.nanos < 10**9:
        raise invalid_argument(name, "is not a valid timestamp")
    return convert.to_datetime(message)


def parse_state(name: str, message: states_pb2.State) -> ProposedState:
    """Validates a proposed state; its id and timestamp are ignored."""
    state_type = StateType(enum_value(f"{name}.type", message.type, _STATE_TYPES))
    state_name = optional_name(f"{name}.name", message.name, MAX_STATE_NAME_LENGTH) or ""
    optional_text(f"{name}.message", message.message, MAX_STATE_MESSAGE_LENGTH)
    result = _parse_result(f"{name}.result", message) if message.HasField("result") else None
    details = message.details
    where = f"{name}.details"

    def time(field_name: str) -> datetime | None:
        if not details.HasField(field_name):  # type: ignore[arg-type]
            return None
        return parse_timestamp(f"{where}.{field_name}", getattr(details, field_name))

    check_label(f"{where}.cache_key", details.cache_key, MAX_CACHE_KEY_LENGTH)
    extra: dict[str, Any] = {}
    for id_field in ("child_flow_run_id", "upstream_task_run_id"):
        value = parse_optional_uuid(f"{where}.{id_field}", getattr(details, id_field))
        if value is not None:
            extra[id_field] = str(value)
    extra.update(_pause_input(where, state_type, details))
    cache_expiration = time("cache_expiration")
    if cache_expiration is not None:
        extra["cache_expiration"] = details.cache_expiration.ToJsonString()
    spec = StateSpec(
        type=state_type,
        name=state_name,
        message=message.message,
        scheduled_time=time("scheduled_time"),
        result_persisted=result is not None,
        retriable=True if details.retriable else None,
        pause_deadline=time("pause_deadline"),
        cache_key=details.cache_key,
    )
    return ProposedState(spec, result, extra, cache_expiration)


def _pause_input(
    where: str, state_type: StateType, details: states_pb2.StateDetails
) -> dict[str, str]:
    """The schema a pause waits for, or the input a resume brings, checked and kept as sent."""
    found: dict[str, str] = {}
    if details.pause_input_schema_json:
        field = f"{where}.{PAUSE_INPUT_SCHEMA}"
        if state_type is not StateType.PAUSED:
            raise invalid_argument(field, "is only allowed on a PAUSED state")
        schema = json_value(field, details.pause_input_schema_json, MAX_PAUSE_INPUT_BYTES)
        problem = schema_problem(schema)
        if problem is not None:
            raise invalid_argument(field, problem)
        found[PAUSE_INPUT_SCHEMA] = details.pause_input_schema_json
    if details.resume_input_json:
        field = f"{where}.{RESUME_INPUT}"
        if state_type is not StateType.RUNNING:
            raise invalid_argument(field, "is only allowed on a RUNNING state")
        json_value(field, details.resume_input_json, MAX_PAUSE_INPUT_BYTES)
        found[RESUME_INPUT] = details.resume_input_json
    return found


def resume_input_refused(error: ResumeInputRefused) -> ApiError:
    """INVALID_ARGUMENT naming where in the resume's input the problem is."""
    field = f"state.details.{RESUME_INPUT}"
    if error.path:
        field = value_root(field)
        for key in error.path:
            field = value_path(field, key)
    return invalid_argument(field, error.message)


def _parse_result(name: str, message: states_pb2.State) -> dict[str, Any] | None:
    ref = message.result
    for field_name in ("storage", "key", "serializer"):
        check_label(f"{name}.{field_name}", getattr(ref, field_name), MAX_REFERENCE_LENGTH)
    inline = bool(ref.inline_value_json)
    if not ref.key and not inline:
        return None  # an empty reference points at nothing
    stored: dict[str, Any] = json_format.MessageToDict(ref, preserving_proto_field_name=True)
    if inline:
        field_name = f"{name}.inline_value_json"
        del stored["inline_value_json"]
        stored[_INLINE] = json_value(field_name, ref.inline_value_json, MAX_INLINE_RESULT_BYTES)
    return stored


def result_ref_message(stored: dict[str, Any]) -> states_pb2.ResultRef:
    """A stored result reference as its message, the inline value as JSON text."""
    message = states_pb2.ResultRef()
    if _INLINE not in stored:
        json_format.ParseDict(stored, message, ignore_unknown_fields=True)
        return message
    rest = {key: value for key, value in stored.items() if key != _INLINE}
    json_format.ParseDict(rest, message, ignore_unknown_fields=True)
    message.inline_value_json = convert.json_text(stored[_INLINE], "inline_value_json")
    return message


def _details(record: StateRecord) -> states_pb2.StateDetails:
    """The stored details as a message; the common keys without json_format, which is slow."""
    stored = record.details
    if not stored:
        return states_pb2.StateDetails()
    simple: dict[str, Any] = {}
    for key, value in stored.items():
        plain = str if key in DETAIL_TEXTS else bool if key == "retriable" else None
        if plain is not None and isinstance(value, plain):
            simple[key] = value
        elif key in DETAIL_TIMES and isinstance(value, str):
            stamp = timestamp_pb2.Timestamp()
            stamp.FromJsonString(value)
            simple[key] = stamp
        else:
            details = states_pb2.StateDetails()
            json_format.ParseDict(stored, details)
            return details
    return states_pb2.StateDetails(**simple)


def state_message(record: StateRecord) -> states_pb2.State:
    message = states_pb2.State(
        id=str(record.id),
        type=record.type,  # type: ignore[arg-type]
        name=record.name,
        timestamp=convert.timestamp(record.timestamp),
        message=record.message,
    )
    if record.result is not None:
        message.result.CopyFrom(result_ref_message(record.result))
    if record.details:
        message.details.CopyFrom(_details(record))
    return message


def orchestration_result(
    status: int, state: StateRecord | None, reason: str, wait_seconds: float = 0.0
) -> states_pb2.OrchestrationResult:
    result = states_pb2.OrchestrationResult(
        status=status,  # type: ignore[arg-type]
        reason=reason,
    )
    if state is not None:
        result.state.CopyFrom(state_message(state))
    if status == OrchestrationStatus.WAIT:
        result.wait.CopyFrom(convert.duration(wait_seconds))
    return result


def decision_result(
    decision: Decision, state: StateRecord | None
) -> states_pb2.OrchestrationResult:
    return orchestration_result(int(decision.status), state, decision.reason, decision.wait_seconds)


def result_message(result: Result) -> states_pb2.OrchestrationResult:
    return orchestration_result(result.status, result.state, result.reason, result.wait_seconds)
