"""Task runs, their specs, filters and updates, and cached states (task_runs.proto)."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from runplane._client.convert.common import (
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
from runplane._client.models import (
    CachedState,
    Ping,
    Reconnect,
    TaskHeartbeatResult,
    TaskRun,
    TaskRunAssignment,
    TaskRunFilter,
    TaskRunSpec,
    TaskRunUpdate,
    TaskWorkerItem,
    TaskWorkerStarted,
)
from runplane.v1 import task_runs_pb2


def _inputs_to_pb(inputs: Mapping[str, tuple[UUID, ...]]) -> dict[str, task_runs_pb2.TaskRunInputs]:
    return {
        name: task_runs_pb2.TaskRunInputs(task_run_ids=ids_to_pb(ids))
        for name, ids in inputs.items()
    }


def _inputs_from_pb(
    inputs: Mapping[str, task_runs_pb2.TaskRunInputs],
) -> dict[str, tuple[UUID, ...]]:
    return {name: uuids_from_pb(upstream.task_run_ids) for name, upstream in inputs.items()}


def task_run_to_pb(run: TaskRun) -> task_runs_pb2.TaskRun:
    return task_runs_pb2.TaskRun(
        id=str(run.id),
        flow_run_id=id_to_pb(run.flow_run_id),
        task_key=run.task_key,
        dynamic_key=run.dynamic_key,
        name=run.name,
        state=None if run.state is None else state_to_pb(run.state),
        cache_key=run.cache_key or "",
        cache_expiration=timestamp_to_pb(run.cache_expiration),
        task_version=run.task_version or "",
        tags=run.tags,
        run_count=run.run_count,
        start_time=timestamp_to_pb(run.start_time),
        end_time=timestamp_to_pb(run.end_time),
        total_run_time=duration_to_pb(run.total_run_time),
        expected_start_time=timestamp_to_pb(run.expected_start_time),
        retry_policy=retry_policy_to_pb(run.retry_policy),
        inputs=_inputs_to_pb(run.inputs),
        create_time=timestamp_to_pb(run.create_time),
        update_time=timestamp_to_pb(run.update_time),
        background=run.background,
        parameters_json=(
            json_object_to_pb(run.parameters, "parameters_json") if run.parameters else ""
        ),
        attempt=run.attempt,
    )


def task_run_from_pb(message: task_runs_pb2.TaskRun) -> TaskRun:
    return TaskRun(
        id=UUID(message.id),
        flow_run_id=uuid_from_pb(message.flow_run_id),
        task_key=message.task_key,
        dynamic_key=message.dynamic_key,
        name=message.name,
        state=state_or_none(message, "state"),
        cache_key=message.cache_key or None,
        cache_expiration=timestamp_field(message, "cache_expiration"),
        task_version=message.task_version or None,
        tags=tuple(message.tags),
        run_count=message.run_count,
        start_time=timestamp_field(message, "start_time"),
        end_time=timestamp_field(message, "end_time"),
        total_run_time=message.total_run_time.ToTimedelta(),
        expected_start_time=timestamp_field(message, "expected_start_time"),
        retry_policy=retry_policy_from_pb(message),
        inputs=_inputs_from_pb(message.inputs),
        create_time=timestamp_field(message, "create_time"),
        update_time=timestamp_field(message, "update_time"),
        background=message.background,
        parameters=(
            json_object_from_pb(message.parameters_json) if message.parameters_json else None
        ),
        attempt=message.attempt,
    )


def task_run_spec_to_pb(spec: TaskRunSpec) -> task_runs_pb2.TaskRunSpec:
    return task_runs_pb2.TaskRunSpec(
        task_run_id=id_to_pb(spec.task_run_id),
        flow_run_id=id_to_pb(spec.flow_run_id),
        task_key=spec.task_key,
        dynamic_key=spec.dynamic_key,
        name=spec.name,
        tags=spec.tags,
        task_version=spec.task_version or "",
        retry_policy=retry_policy_to_pb(spec.retry_policy),
        inputs=_inputs_to_pb(spec.inputs),
        cache_key=spec.cache_key or "",
        cache_expiration=timestamp_to_pb(spec.cache_expiration),
        background=spec.background,
        parameters_json=(
            json_object_to_pb(spec.parameters, "parameters_json")
            if spec.parameters is not None
            else ""
        ),
    )


def task_run_spec_from_pb(message: task_runs_pb2.TaskRunSpec) -> TaskRunSpec:
    return TaskRunSpec(
        task_run_id=uuid_from_pb(message.task_run_id),
        flow_run_id=uuid_from_pb(message.flow_run_id),
        task_key=message.task_key,
        dynamic_key=message.dynamic_key,
        name=message.name,
        tags=tuple(message.tags),
        task_version=message.task_version or None,
        retry_policy=retry_policy_from_pb(message),
        inputs=_inputs_from_pb(message.inputs),
        cache_key=message.cache_key or None,
        cache_expiration=timestamp_field(message, "cache_expiration"),
        background=message.background,
        parameters=(
            json_object_from_pb(message.parameters_json) if message.parameters_json else None
        ),
    )


def task_run_filter_to_pb(flt: TaskRunFilter) -> task_runs_pb2.TaskRunFilter:
    return task_runs_pb2.TaskRunFilter(
        task_run_ids=ids_to_pb(flt.task_run_ids),
        flow_run_ids=ids_to_pb(flt.flow_run_ids),
        state_types=[state_type_to_pb(t) for t in flt.state_types],
        task_key=flt.task_key or "",
        cache_key=flt.cache_key or "",
    )


def task_run_filter_from_pb(message: task_runs_pb2.TaskRunFilter) -> TaskRunFilter:
    return TaskRunFilter(
        task_run_ids=uuids_from_pb(message.task_run_ids),
        flow_run_ids=uuids_from_pb(message.flow_run_ids),
        state_types=tuple(state_type_from_pb(t) for t in message.state_types),
        task_key=message.task_key or None,
        cache_key=message.cache_key or None,
    )


def task_run_update_to_pb(update: TaskRunUpdate) -> task_runs_pb2.TaskRunUpdate:
    return task_runs_pb2.TaskRunUpdate(
        sequence=update.sequence,
        task_run_id=str(update.task_run_id),
        create=None if update.create is None else task_run_spec_to_pb(update.create),
        state=None if update.state is None else state_to_pb(update.state),
    )


def task_run_update_from_pb(message: task_runs_pb2.TaskRunUpdate) -> TaskRunUpdate:
    create = task_run_spec_from_pb(message.create) if message.HasField("create") else None
    return TaskRunUpdate(
        sequence=message.sequence,
        task_run_id=UUID(message.task_run_id),
        create=create,
        state=state_or_none(message, "state"),
    )


def cached_state_to_pb(cached: CachedState | None) -> task_runs_pb2.LookupCachedStateResponse:
    if cached is None:
        return task_runs_pb2.LookupCachedStateResponse(found=False)
    return task_runs_pb2.LookupCachedStateResponse(
        found=True, state=state_to_pb(cached.state), task_run_id=id_to_pb(cached.task_run_id)
    )


def cached_state_from_pb(message: task_runs_pb2.LookupCachedStateResponse) -> CachedState | None:
    if not message.found:
        return None
    return CachedState(
        state=state_from_pb(message.state), task_run_id=uuid_from_pb(message.task_run_id)
    )


def task_worker_item_from_pb(message: task_runs_pb2.SubscribeTaskRunsResponse) -> TaskWorkerItem:
    kind = message.WhichOneof("item")
    if kind == "started":
        started = message.started
        return TaskWorkerStarted(
            session_id=UUID(started.session_id),
            worker_id=UUID(started.worker_id),
            heartbeat_interval=started.heartbeat_interval.ToTimedelta(),
            heartbeat_timeout=started.heartbeat_timeout.ToTimedelta(),
        )
    if kind == "assignment":
        assignment = message.assignment
        return TaskRunAssignment(
            task_run=task_run_from_pb(assignment.task_run),
            lease_id=UUID(assignment.lease_id),
            lease_expire_time=timestamp_field(assignment, "lease_expire_time"),
        )
    if kind == "ping":
        return Ping(time=timestamp_field(message.ping, "time"))
    return Reconnect(reason=message.reconnect.reason)


def task_heartbeat_from_pb(message: task_runs_pb2.HeartbeatTaskRunsResponse) -> TaskHeartbeatResult:
    return TaskHeartbeatResult(
        unknown_task_run_ids=uuids_from_pb(message.unknown_task_run_ids),
        lease_expire_time=timestamp_field(message, "lease_expire_time"),
        cancel_task_run_ids=uuids_from_pb(message.cancel_task_run_ids),
    )
