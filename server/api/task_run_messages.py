"""Task runs, their specs and filters between protobuf and records."""

from __future__ import annotations

import uuid

from runplane.server.api import convert
from runplane.server.api.errors import invalid_argument
from runplane.server.api.flow_run_messages import MAX_FILTER_VALUES, retry_policy
from runplane.server.api.states import parse_timestamp, state_message
from runplane.server.api.validation import (
    check_label,
    check_tags,
    enum_value,
    json_object,
    optional_name,
    parse_optional_uuid,
    parse_uuid,
    parse_uuids,
    require_name,
)
from runplane.server.db.run_filters import TaskRunQuery
from runplane.server.db.run_records import TaskRunRecord
from runplane.server.db.task_runs import NewTaskRun
from runplane.server.orchestration import MAX_CACHE_KEY_LENGTH, StateType
from runplane.v1 import states_pb2, task_runs_pb2

MAX_KEY_LENGTH = 512
MAX_INPUTS = 1000
MAX_PARAMETERS_BYTES = 1024 * 1024
_STATE_TYPES = frozenset(int(t) for t in StateType)


def _inputs(name: str, spec: task_runs_pb2.TaskRunSpec) -> dict[str, list[str]]:
    if len(spec.inputs) > MAX_INPUTS:
        raise invalid_argument(name, f"at most {MAX_INPUTS} parameters are allowed")
    inputs: dict[str, list[str]] = {}
    for parameter, upstream in spec.inputs.items():
        require_name(f"{name}[{parameter[:64]}]", parameter)
        ids = parse_uuids(f"{name}[{parameter}].task_run_ids", upstream.task_run_ids)
        inputs[parameter] = [str(value) for value in ids]
    return inputs


def parse_spec(
    name: str, spec: task_runs_pb2.TaskRunSpec, flow_run_id: uuid.UUID | None = None
) -> NewTaskRun:
    """Validates a spec. With `flow_run_id` (a report of that flow run's task runs) the spec
    may leave its flow run empty; without it an empty flow run makes a task run of its own."""
    if spec.flow_run_id:
        given = parse_uuid(f"{name}.flow_run_id", spec.flow_run_id)
        if flow_run_id is not None and given != flow_run_id:
            raise invalid_argument(f"{name}.flow_run_id", "names another flow run")
        flow_run_id = given
    parameters = None
    if spec.background:
        if flow_run_id is not None:
            raise invalid_argument(
                f"{name}.flow_run_id", "a background task run belongs to no flow run"
            )
        parameters = json_object(
            f"{name}.parameters_json", spec.parameters_json or "{}", MAX_PARAMETERS_BYTES
        )
    elif spec.parameters_json:
        raise invalid_argument(f"{name}.parameters_json", "is only kept for a background run")
    task_key = require_name(f"{name}.task_key", spec.task_key, MAX_KEY_LENGTH)
    retries, delays = retry_policy(f"{name}.retry_policy", spec.retry_policy)
    expiration = None
    if spec.HasField("cache_expiration"):
        expiration = parse_timestamp(f"{name}.cache_expiration", spec.cache_expiration)
    cache_key = check_label(f"{name}.cache_key", spec.cache_key, MAX_CACHE_KEY_LENGTH)
    run_id = parse_optional_uuid(f"{name}.task_run_id", spec.task_run_id) or uuid.uuid4()
    return NewTaskRun(
        id=run_id,
        flow_run_id=flow_run_id,
        task_key=task_key,
        dynamic_key=check_label(f"{name}.dynamic_key", spec.dynamic_key, MAX_KEY_LENGTH),
        name=optional_name(f"{name}.name", spec.name) or f"{task_key[:240]}-{run_id.hex[:6]}",
        cache_key=cache_key or None,
        cache_expiration=expiration,
        task_version=check_label(f"{name}.task_version", spec.task_version, 256) or None,
        tags=check_tags(f"{name}.tags", spec.tags),
        retries=retries,
        retry_delays=delays,
        inputs=_inputs(f"{name}.inputs", spec),
        background=spec.background,
        parameters=parameters,
    )


def parse_filter(name: str, message: task_runs_pb2.TaskRunFilter) -> TaskRunQuery:
    for field_name in ("task_run_ids", "flow_run_ids", "state_types"):
        if len(getattr(message, field_name)) > MAX_FILTER_VALUES:
            raise invalid_argument(f"{name}.{field_name}", "has too many values")
    for index, value in enumerate(message.state_types):
        enum_value(f"{name}.state_types[{index}]", value, _STATE_TYPES)
    return TaskRunQuery(
        ids=tuple(parse_uuids(f"{name}.task_run_ids", message.task_run_ids)),
        flow_run_ids=tuple(parse_uuids(f"{name}.flow_run_ids", message.flow_run_ids)),
        state_types=tuple(message.state_types),
        task_key=check_label(f"{name}.task_key", message.task_key, MAX_KEY_LENGTH) or None,
        cache_key=check_label(f"{name}.cache_key", message.cache_key, MAX_CACHE_KEY_LENGTH) or None,
    )


def task_run_message(record: TaskRunRecord) -> task_runs_pb2.TaskRun:
    times = record.times
    message = task_runs_pb2.TaskRun(
        id=str(record.id),
        flow_run_id=str(record.flow_run_id) if record.flow_run_id else "",
        task_key=record.task_key,
        dynamic_key=record.dynamic_key,
        name=record.name,
        cache_key=record.cache_key or "",
        cache_expiration=convert.timestamp(record.cache_expiration),
        task_version=record.task_version or "",
        tags=record.tags,
        run_count=times.run_count,
        start_time=convert.timestamp(times.start_time),
        end_time=convert.timestamp(times.end_time),
        total_run_time=convert.duration(times.total_run_time),
        expected_start_time=convert.timestamp(times.expected_start_time),
        retry_policy=states_pb2.RetryPolicy(
            retries=record.retries, retry_delay_seconds=record.retry_delays
        ),
        create_time=convert.timestamp(record.create_time),
        update_time=convert.timestamp(record.update_time),
        background=record.background,
        attempt=record.attempt,
    )
    if record.parameters is not None:
        message.parameters_json = convert.json_object_text(record.parameters, "parameters_json")
    for parameter, ids in record.inputs.items():
        message.inputs[parameter].task_run_ids.extend(ids)
    if record.state is not None:
        message.state.CopyFrom(state_message(record.state))
    return message
