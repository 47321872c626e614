"""Deployments and their schedules as protobuf messages (their runs: see flow_run_messages)."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from runplane.server.api import convert
from runplane.server.db.deployments import DeploymentRecord, ScheduleRecord
from runplane.v1 import deployments_pb2, states_pb2


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
