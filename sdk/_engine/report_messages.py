"""Builds ``ReportTaskRuns`` protobuf messages straight from recorded transitions.

This runs in the reporter's thread for every transition, so it skips the pydantic
models: a plain tuple becomes a message in a few microseconds.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from google.protobuf import timestamp_pb2

from runplane._client import convert
from runplane._engine.reporter_types import Record, TaskRunCreate, Transition
from runplane.v1 import states_pb2, task_runs_pb2


def _stamp(at: float) -> timestamp_pb2.Timestamp:
    seconds = int(at)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=int((at - seconds) * 1e9))


def _stamp_of(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    return None if value is None else convert.timestamp_to_pb(value)


def _id(value: uuid.UUID | None) -> str:
    return "" if value is None else str(value)


def state_message(change: Transition) -> states_pb2.State:
    details = states_pb2.StateDetails(
        scheduled_time=None if change.scheduled_time is None else _stamp(change.scheduled_time),
        cache_key=change.cache_key or "",
        cache_expiration=_stamp_of(change.cache_expiration),
        child_flow_run_id=_id(change.child_flow_run_id),
        upstream_task_run_id=_id(change.upstream_task_run_id),
    )
    return states_pb2.State(
        type=convert.state_type_to_pb(change.type),
        name=change.name,
        message=change.message,
        timestamp=_stamp(change.at),
        result=None if change.result is None else convert.result_ref_to_pb(change.result),
        details=details,
    )


def spec_message(
    flow_run_id: str, task_run_id: str, create: TaskRunCreate, change: Transition
) -> task_runs_pb2.TaskRunSpec:
    inputs = {
        name: task_runs_pb2.TaskRunInputs(task_run_ids=[str(i) for i in ids])
        for name, ids in create.inputs.items()
    }
    policy = None
    if create.retries:
        policy = states_pb2.RetryPolicy(
            retries=create.retries, retry_delay_seconds=create.retry_delays
        )
    return task_runs_pb2.TaskRunSpec(
        task_run_id=task_run_id,
        flow_run_id=flow_run_id,
        task_key=create.task_key,
        dynamic_key=create.dynamic_key,
        name=create.name,
        tags=create.tags,
        task_version=create.task_version or "",
        retry_policy=policy,
        inputs=inputs,
        cache_key=change.cache_key or "",
        cache_expiration=_stamp_of(change.cache_expiration),
    )


def report_request(
    flow_run_id: uuid.UUID, records: list[Record]
) -> task_runs_pb2.ReportTaskRunsRequest:
    run_id = str(flow_run_id)
    updates = []
    for sequence, task_run_id, create, change in records:
        task_id = str(task_run_id)
        spec = None if create is None else spec_message(run_id, task_id, create, change)
        updates.append(
            task_runs_pb2.TaskRunUpdate(
                sequence=sequence, task_run_id=task_id, create=spec, state=state_message(change)
            )
        )
    return task_runs_pb2.ReportTaskRunsRequest(flow_run_id=run_id, updates=updates)
