"""Flow runs and their filters between protobuf and records."""

from __future__ import annotations

import math
from collections.abc import Sequence

from runplane.server.api import convert
from runplane.server.api.errors import invalid_argument
from runplane.server.api.states import MAX_STATE_NAME_LENGTH, parse_timestamp, state_message
from runplane.server.api.validation import (
    check_tags,
    enum_value,
    optional_name,
    parse_optional_uuid,
    parse_uuids,
    require_name,
)
from runplane.server.db.run_filters import FlowRunQuery
from runplane.server.db.run_records import FlowRunRecord
from runplane.server.orchestration import StateType
from runplane.v1 import flow_runs_pb2, states_pb2

MAX_FILTER_VALUES = 1000
MAX_RETRIES = 10_000
MAX_RETRY_DELAYS = 100
_STATE_TYPES = frozenset(int(t) for t in StateType)


def retry_policy(name: str, policy: states_pb2.RetryPolicy) -> tuple[int, list[float]]:
    if not 0 <= policy.retries <= MAX_RETRIES:
        raise invalid_argument(f"{name}.retries", f"must be between 0 and {MAX_RETRIES}")
    delays = list(policy.retry_delay_seconds)
    if len(delays) > MAX_RETRY_DELAYS:
        raise invalid_argument(f"{name}.retry_delay_seconds", "has too many values")
    for index, delay in enumerate(delays):
        if not math.isfinite(delay) or delay < 0:
            raise invalid_argument(f"{name}.retry_delay_seconds[{index}]", "must be >= 0")
    return policy.retries, delays


def _bounded(name: str, values: Sequence[object]) -> None:
    if len(values) > MAX_FILTER_VALUES:
        raise invalid_argument(name, f"at most {MAX_FILTER_VALUES} values are allowed")


def parse_filter(name: str, message: flow_runs_pb2.FlowRunFilter) -> FlowRunQuery:
    for field_name in ("flow_run_ids", "flow_ids", "deployment_ids", "state_types", "state_names"):
        _bounded(f"{name}.{field_name}", getattr(message, field_name))
    for index, value in enumerate(message.state_types):
        enum_value(f"{name}.state_types[{index}]", value, _STATE_TYPES)
    for index, state_name in enumerate(message.state_names):
        require_name(f"{name}.state_names[{index}]", state_name, MAX_STATE_NAME_LENGTH)
    before = after = None
    if message.HasField("expected_start_time_before"):
        before = parse_timestamp(
            f"{name}.expected_start_time_before", message.expected_start_time_before
        )
    if message.HasField("expected_start_time_after"):
        after = parse_timestamp(
            f"{name}.expected_start_time_after", message.expected_start_time_after
        )
    return FlowRunQuery(
        ids=tuple(parse_uuids(f"{name}.flow_run_ids", message.flow_run_ids)),
        flow_ids=tuple(parse_uuids(f"{name}.flow_ids", message.flow_ids)),
        deployment_ids=tuple(parse_uuids(f"{name}.deployment_ids", message.deployment_ids)),
        state_types=tuple(message.state_types),
        state_names=tuple(message.state_names),
        tags=tuple(check_tags(f"{name}.tags", message.tags)),
        parent_task_run_id=parse_optional_uuid(
            f"{name}.parent_task_run_id", message.parent_task_run_id
        ),
        work_pool_name=optional_name(f"{name}.work_pool_name", message.work_pool_name),
        expected_before=before,
        expected_after=after,
    )


def matches(query: FlowRunQuery, run: FlowRunRecord) -> bool:
    """Whether the run passes the filter; the same test as the SQL of `flow_run_conditions`."""
    state = run.state
    expected = run.times.expected_start_time
    checks = (
        not query.ids or run.id in query.ids,
        not query.flow_ids or run.flow_id in query.flow_ids,
        not query.deployment_ids or run.deployment_id in query.deployment_ids,
        not query.state_types or (state is not None and state.type in query.state_types),
        not query.state_names or (state is not None and state.name in query.state_names),
        all(tag in run.tags for tag in query.tags),
        query.parent_task_run_id is None or run.parent_task_run_id == query.parent_task_run_id,
        query.work_pool_name is None or run.work_pool_name == query.work_pool_name,
        query.expected_before is None
        or (expected is not None and expected <= query.expected_before),
        query.expected_after is None or (expected is not None and expected >= query.expected_after),
    )
    return all(checks)


def flow_run_message(record: FlowRunRecord) -> flow_runs_pb2.FlowRun:
    times = record.times
    message = flow_runs_pb2.FlowRun(
        id=str(record.id),
        name=record.name,
        flow_id=str(record.flow_id),
        flow_name=record.flow_name,
        deployment_id=str(record.deployment_id) if record.deployment_id else "",
        parameters_json=convert.json_object_text(record.parameters, "parameters_json"),
        tags=record.tags,
        run_count=times.run_count,
        start_time=convert.timestamp(times.start_time),
        end_time=convert.timestamp(times.end_time),
        total_run_time=convert.duration(times.total_run_time),
        expected_start_time=convert.timestamp(times.expected_start_time),
        next_scheduled_start_time=convert.timestamp(times.next_scheduled_start_time),
        idempotency_key=record.idempotency_key or "",
        parent_task_run_id=str(record.parent_task_run_id) if record.parent_task_run_id else "",
        retry_policy=states_pb2.RetryPolicy(
            retries=record.retries, retry_delay_seconds=record.retry_delays
        ),
        job_variables_json=convert.json_object_text(record.job_variables, "job_variables_json"),
        work_pool_name=record.work_pool_name or "",
        work_queue_name=record.work_queue_name or "",
        flow_version=record.flow_version or "",
        attempt=record.attempt,
        heartbeat_time=convert.timestamp(record.heartbeat_time),
        create_time=convert.timestamp(record.create_time),
        update_time=convert.timestamp(record.update_time),
        runtime=record.runtime,
    )
    if record.state is not None:
        message.state.CopyFrom(state_message(record.state))
    return message
