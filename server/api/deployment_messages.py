"""Deployments, their schedules and the runs they create, as protobuf messages."""

from __future__ import annotations

from google.protobuf import json_format, timestamp_pb2

from runplane.server.api import convert
from runplane.server.api.states import result_ref_message
from runplane.server.db.deployments import DeploymentRecord, ScheduleRecord
from runplane.server.db.scheduled_runs import ScheduledRunRecord
from runplane.v1 import deployments_pb2, flow_runs_pb2, states_pb2


def _parse_time(text: str | None) -> timestamp_pb2.Timestamp | None:
    if not text:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromJsonString(text)
    return message


def schedule(record: ScheduleRecord) -> deployments_pb2.DeploymentSchedule:
    message = deployments_pb2.DeploymentSchedule(
        id=str(record.id),
        active=record.active,
        parameters_json=convert.json_object_text(record.parameters, "parameters_json"),
        catchup=record.catchup,  # type: ignore[arg-type]
    )
    spec = record.spec
    if record.kind == "cron":
        message.cron.CopyFrom(
            deployments_pb2.CronSchedule(
                expression=spec["expression"], timezone=spec["timezone"], day_or=spec["day_or"]
            )
        )
    elif record.kind == "interval":
        message.interval.CopyFrom(
            deployments_pb2.IntervalSchedule(
                interval=convert.duration(spec["seconds"]),
                anchor_time=_parse_time(spec.get("anchor_time")),
                timezone=spec["timezone"],
            )
        )
    elif record.kind == "rrule":
        message.rrule.CopyFrom(
            deployments_pb2.RRuleSchedule(rrule=spec["rrule"], timezone=spec["timezone"])
        )
    return message


def deployment(record: DeploymentRecord) -> deployments_pb2.Deployment:
    message = deployments_pb2.Deployment(
        id=str(record.id),
        name=record.name,
        flow_id=str(record.flow_id),
        flow_name=record.flow_name,
        entrypoint=record.entrypoint,
        description=record.description,
        version=record.version,
        tags=record.tags,
        parameters_json=convert.json_object_text(record.parameters, "parameters_json"),
        parameter_schema_json=convert.json_object_text(
            record.parameter_schema, "parameter_schema_json"
        ),
        enforce_parameter_schema=record.enforce_parameter_schema,
        schedules=[schedule(s) for s in record.schedules],
        paused=record.paused,
        collision_strategy=record.collision_strategy,  # type: ignore[arg-type]
        work_pool_name=record.work_pool_name,
        work_queue_name=record.work_queue_name,
        job_variables_json=convert.json_object_text(record.job_variables, "job_variables_json"),
        create_time=convert.timestamp(record.create_time),
        update_time=convert.timestamp(record.update_time),
        retry_policy=states_pb2.RetryPolicy(
            retries=record.retries, retry_delay_seconds=record.retry_delays
        ),
        runtime=record.runtime,
    )
    if record.concurrency_limit is not None:
        message.concurrency_limit = record.concurrency_limit
    return message


def _state(record: ScheduledRunRecord) -> states_pb2.State | None:
    if record.state_id is None or record.state_type is None:
        return None
    message = states_pb2.State(
        id=str(record.state_id),
        type=record.state_type,  # type: ignore[arg-type]
        name=record.state_name or "",
        timestamp=convert.timestamp(record.state_timestamp),
        message=record.state_message,
    )
    if record.state_result is not None:
        message.result.CopyFrom(result_ref_message(record.state_result))
    if record.state_details:
        json_format.ParseDict(record.state_details, message.details, ignore_unknown_fields=True)
    return message


def flow_run(record: ScheduledRunRecord) -> flow_runs_pb2.FlowRun:
    return flow_runs_pb2.FlowRun(
        id=str(record.id),
        name=record.name,
        flow_id=str(record.flow_id),
        flow_name=record.flow_name,
        deployment_id=str(record.deployment_id) if record.deployment_id else "",
        state=_state(record),
        parameters_json=convert.json_object_text(record.parameters, "parameters_json"),
        tags=record.tags,
        run_count=record.run_count,
        start_time=convert.timestamp(record.start_time),
        end_time=convert.timestamp(record.end_time),
        total_run_time=convert.duration(record.total_run_time),
        expected_start_time=convert.timestamp(record.expected_start_time),
        next_scheduled_start_time=convert.timestamp(record.next_scheduled_start_time),
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
