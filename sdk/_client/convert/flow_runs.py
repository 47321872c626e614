"""Flow runs, their filters and the changes a watch streams (flow_runs.proto)."""

from __future__ import annotations

from uuid import UUID

from runplane._client.convert.common import (
    decoded,
    duration_to_pb,
    id_to_pb,
    ids_to_pb,
    json_object_from_pb,
    json_object_to_pb,
    timestamp_field,
    timestamp_to_pb,
    uuid_from_pb,
    uuids_from_pb,
)
from runplane._client.convert.states import (
    retry_policy_from_pb,
    retry_policy_to_pb,
    state_from_pb,
    state_or_none,
    state_to_pb,
    state_type_from_pb,
    state_type_to_pb,
)
from runplane._client.models import DEFAULT_RUNTIME, FlowRun, FlowRunChange, FlowRunFilter
from runplane.v1 import flow_runs_pb2


def flow_run_to_pb(run: FlowRun) -> flow_runs_pb2.FlowRun:
    return flow_runs_pb2.FlowRun(
        id=str(run.id),
        name=run.name,
        flow_id=str(run.flow_id),
        flow_name=run.flow_name,
        deployment_id=id_to_pb(run.deployment_id),
        state=None if run.state is None else state_to_pb(run.state),
        parameters_json=json_object_to_pb(run.parameters, "parameters_json"),
        tags=run.tags,
        run_count=run.run_count,
        start_time=timestamp_to_pb(run.start_time),
        end_time=timestamp_to_pb(run.end_time),
        total_run_time=duration_to_pb(run.total_run_time),
        expected_start_time=timestamp_to_pb(run.expected_start_time),
        next_scheduled_start_time=timestamp_to_pb(run.next_scheduled_start_time),
        idempotency_key=run.idempotency_key or "",
        parent_task_run_id=id_to_pb(run.parent_task_run_id),
        retry_policy=retry_policy_to_pb(run.retry_policy),
        job_variables_json=json_object_to_pb(run.job_variables, "job_variables_json"),
        work_pool_name=run.work_pool_name or "",
        work_queue_name=run.work_queue_name or "",
        flow_version=run.flow_version or "",
        attempt=run.attempt,
        heartbeat_time=timestamp_to_pb(run.heartbeat_time),
        create_time=timestamp_to_pb(run.create_time),
        update_time=timestamp_to_pb(run.update_time),
        runtime=run.runtime,
    )


def flow_run_from_pb(message: flow_runs_pb2.FlowRun) -> FlowRun:
    # Without validation: see ``state_details_from_pb``.
    return decoded(
        FlowRun,
        id=UUID(message.id),
        name=message.name,
        flow_id=UUID(message.flow_id),
        flow_name=message.flow_name,
        deployment_id=uuid_from_pb(message.deployment_id),
        state=state_or_none(message, "state"),
        parameters=json_object_from_pb(message.parameters_json),
        tags=tuple(message.tags),
        run_count=message.run_count,
        start_time=timestamp_field(message, "start_time"),
        end_time=timestamp_field(message, "end_time"),
        total_run_time=message.total_run_time.ToTimedelta(),
        expected_start_time=timestamp_field(message, "expected_start_time"),
        next_scheduled_start_time=timestamp_field(message, "next_scheduled_start_time"),
        idempotency_key=message.idempotency_key or None,
        parent_task_run_id=uuid_from_pb(message.parent_task_run_id),
        retry_policy=retry_policy_from_pb(message),
        job_variables=json_object_from_pb(message.job_variables_json),
        work_pool_name=message.work_pool_name or None,
        work_queue_name=message.work_queue_name or None,
        flow_version=message.flow_version or None,
        attempt=message.attempt,
        heartbeat_time=timestamp_field(message, "heartbeat_time"),
        create_time=timestamp_field(message, "create_time"),
        update_time=timestamp_field(message, "update_time"),
        runtime=message.runtime or DEFAULT_RUNTIME,
    )


def flow_run_filter_to_pb(flt: FlowRunFilter) -> flow_runs_pb2.FlowRunFilter:
    return flow_runs_pb2.FlowRunFilter(
        flow_run_ids=ids_to_pb(flt.flow_run_ids),
        flow_ids=ids_to_pb(flt.flow_ids),
        deployment_ids=ids_to_pb(flt.deployment_ids),
        state_types=[state_type_to_pb(t) for t in flt.state_types],
        state_names=flt.state_names,
        tags=flt.tags,
        parent_task_run_id=id_to_pb(flt.parent_task_run_id),
        work_pool_name=flt.work_pool_name or "",
        expected_start_time_before=timestamp_to_pb(flt.expected_start_time_before),
        expected_start_time_after=timestamp_to_pb(flt.expected_start_time_after),
    )


def flow_run_filter_from_pb(message: flow_runs_pb2.FlowRunFilter) -> FlowRunFilter:
    return FlowRunFilter(
        flow_run_ids=uuids_from_pb(message.flow_run_ids),
        flow_ids=uuids_from_pb(message.flow_ids),
        deployment_ids=uuids_from_pb(message.deployment_ids),
        state_types=tuple(state_type_from_pb(t) for t in message.state_types),
        state_names=tuple(message.state_names),
        tags=tuple(message.tags),
        parent_task_run_id=uuid_from_pb(message.parent_task_run_id),
        work_pool_name=message.work_pool_name or None,
        expected_start_time_before=timestamp_field(message, "expected_start_time_before"),
        expected_start_time_after=timestamp_field(message, "expected_start_time_after"),
    )


def flow_run_change_to_pb(change: FlowRunChange) -> flow_runs_pb2.WatchFlowRunsResponse:
    return flow_runs_pb2.WatchFlowRunsResponse(
        flow_run=flow_run_to_pb(change.flow_run), state=state_to_pb(change.state)
    )


def flow_run_change_from_pb(message: flow_runs_pb2.WatchFlowRunsResponse) -> FlowRunChange:
    return FlowRunChange(
        flow_run=flow_run_from_pb(message.flow_run), state=state_from_pb(message.state)
    )
