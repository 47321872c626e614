"""States, their details and results, orchestration results and retry policies (states.proto)."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf.message import Message

from runplane._client.convert.common import (
    decoded,
    duration_field,
    duration_to_pb,
    enum_from_pb,
    id_to_pb,
    json_from_pb,
    json_to_pb,
    timestamp_field,
    timestamp_to_pb,
    uuid_from_pb,
)
from runplane._client.models import (
    OrchestrationResult,
    OrchestrationStatus,
    ResultRef,
    RetryPolicy,
    State,
    StateDetails,
    StateType,
)
from runplane.v1 import states_pb2

_STATE_TYPES = {t: states_pb2.StateType.Value(f"STATE_TYPE_{t.value}") for t in StateType}
_STATE_TYPES_BACK = {number: t for t, number in _STATE_TYPES.items()}
_STATUSES = {
    s: states_pb2.OrchestrationStatus.Value(f"ORCHESTRATION_STATUS_{s.value}")
    for s in OrchestrationStatus
}
_STATUSES_BACK = {number: s for s, number in _STATUSES.items()}


def state_type_to_pb(value: StateType) -> states_pb2.StateType.ValueType:
    return _STATE_TYPES[value]


def state_type_from_pb(value: int) -> StateType:
    return enum_from_pb(_STATE_TYPES_BACK, value, "state type")


def result_ref_to_pb(ref: ResultRef) -> states_pb2.ResultRef:
    inline = json_to_pb(ref.inline_value, "result.inline_value_json") if ref.is_inline else ""
    return states_pb2.ResultRef(
        storage=ref.storage, key=ref.key, serializer=ref.serializer, inline_value_json=inline
    )


def result_ref_from_pb(message: states_pb2.ResultRef) -> ResultRef:
    inline = json_from_pb(message.inline_value_json) if message.inline_value_json else None
    return ResultRef(
        storage=message.storage,
        key=message.key,
        serializer=message.serializer,
        inline_value=inline,
    )


def state_details_to_pb(details: StateDetails) -> states_pb2.StateDetails:
    return states_pb2.StateDetails(
        scheduled_time=timestamp_to_pb(details.scheduled_time),
        cache_key=details.cache_key or "",
        cache_expiration=timestamp_to_pb(details.cache_expiration),
        retriable=details.retriable,
        transition_id=id_to_pb(details.transition_id),
        lease_id=id_to_pb(details.lease_id),
        pause_deadline=timestamp_to_pb(details.pause_deadline),
        child_flow_run_id=id_to_pb(details.child_flow_run_id),
        upstream_task_run_id=id_to_pb(details.upstream_task_run_id),
        pause_input_schema_json=details.pause_input_schema_json or "",
        resume_input_json=details.resume_input_json or "",
    )


def state_details_from_pb(message: states_pb2.StateDetails) -> StateDetails:
    # Built without validation, as every decoder of a server answer on the hot path: each
    # value is already of its field's type, and validating it again cost more than the call.
    return decoded(
        StateDetails,
        scheduled_time=timestamp_field(message, "scheduled_time"),
        cache_key=message.cache_key or None,
        cache_expiration=timestamp_field(message, "cache_expiration"),
        retriable=message.retriable,
        transition_id=uuid_from_pb(message.transition_id),
        lease_id=uuid_from_pb(message.lease_id),
        pause_deadline=timestamp_field(message, "pause_deadline"),
        child_flow_run_id=uuid_from_pb(message.child_flow_run_id),
        upstream_task_run_id=uuid_from_pb(message.upstream_task_run_id),
        pause_input_schema_json=message.pause_input_schema_json or None,
        resume_input_json=message.resume_input_json or None,
    )


def state_to_pb(state: State) -> states_pb2.State:
    return states_pb2.State(
        id=id_to_pb(state.id),
        type=_STATE_TYPES[state.type],
        name=state.name,
        timestamp=timestamp_to_pb(state.timestamp),
        message=state.message,
        result=None if state.result_ref is None else result_ref_to_pb(state.result_ref),
        details=state_details_to_pb(state.details),
    )


def state_from_pb(message: states_pb2.State) -> State:
    state_type = state_type_from_pb(message.type)
    return decoded(
        State,
        id=uuid_from_pb(message.id),
        type=state_type,
        name=message.name or state_type.value.title(),
        timestamp=timestamp_field(message, "timestamp"),
        message=message.message,
        result_ref=result_ref_from_pb(message.result) if message.HasField("result") else None,
        details=state_details_from_pb(message.details),
    )


def state_or_none(message: Message, field: str) -> State | None:
    if not message.HasField(field):
        return None
    state: states_pb2.State = getattr(message, field)
    return state_from_pb(state)


def orchestration_result_to_pb(result: OrchestrationResult) -> states_pb2.OrchestrationResult:
    return states_pb2.OrchestrationResult(
        status=_STATUSES[result.status],
        state=None if result.state is None else state_to_pb(result.state),
        reason=result.reason,
        wait=duration_to_pb(timedelta(seconds=result.wait_seconds))
        if result.wait_seconds
        else None,
    )


def orchestration_result_from_pb(message: states_pb2.OrchestrationResult) -> OrchestrationResult:
    wait = duration_field(message, "wait")
    return decoded(
        OrchestrationResult,
        status=enum_from_pb(_STATUSES_BACK, message.status, "orchestration status"),
        state=state_or_none(message, "state"),
        reason=message.reason,
        wait_seconds=0.0 if wait is None else wait.total_seconds(),
    )


def retry_policy_to_pb(policy: RetryPolicy | None) -> states_pb2.RetryPolicy | None:
    if policy is None:
        return None
    return states_pb2.RetryPolicy(
        retries=policy.retries, retry_delay_seconds=policy.retry_delay_seconds
    )


def retry_policy_from_pb(message: Message, field: str = "retry_policy") -> RetryPolicy | None:
    """The retry policy in ``message.<field>``, None when unset."""
    if not message.HasField(field):
        return None
    policy: states_pb2.RetryPolicy = getattr(message, field)
    return RetryPolicy(
        retries=policy.retries, retry_delay_seconds=tuple(policy.retry_delay_seconds)
    )
