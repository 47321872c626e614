"""Deployments and their schedules (deployments.proto)."""

from __future__ import annotations

from collections.abc import Iterable

from runplane._client.convert.common import (
    duration_to_pb,
    enum_from_pb,
    id_to_pb,
    json_object_from_pb,
    json_object_to_pb,
    timestamp_field,
    timestamp_to_pb,
    uuid_from_pb,
)
from runplane._client.convert.states import retry_policy_from_pb, retry_policy_to_pb
from runplane._client.models import (
    DEFAULT_RUNTIME,
    CatchupPolicy,
    CollisionStrategy,
    CronSchedule,
    Deployment,
    DeploymentSchedule,
    IntervalSchedule,
    RRuleSchedule,
)
from runplane.v1 import deployments_pb2

_COLLISIONS = {
    c: deployments_pb2.CollisionStrategy.Value(f"COLLISION_STRATEGY_{c.value}")
    for c in CollisionStrategy
}
# The contract reads unspecified values as the documented defaults.
_COLLISIONS_BACK = {number: c for c, number in _COLLISIONS.items()} | {
    deployments_pb2.COLLISION_STRATEGY_UNSPECIFIED: CollisionStrategy.ENQUEUE
}
_CATCHUPS = {
    c: deployments_pb2.CatchupPolicy.Value(f"CATCHUP_POLICY_{c.value}") for c in CatchupPolicy
}
_CATCHUPS_BACK = {number: c for c, number in _CATCHUPS.items()} | {
    deployments_pb2.CATCHUP_POLICY_UNSPECIFIED: CatchupPolicy.ALL
}


def deployment_schedule_to_pb(item: DeploymentSchedule) -> deployments_pb2.DeploymentSchedule:
    message = deployments_pb2.DeploymentSchedule(
        id=id_to_pb(item.id),
        active=item.active,
        parameters_json=json_object_to_pb(item.parameters, "parameters_json"),
        catchup=_CATCHUPS[item.catchup],
    )
    schedule = item.schedule
    if isinstance(schedule, CronSchedule):
        message.cron.CopyFrom(
            deployments_pb2.CronSchedule(
                expression=schedule.expression,
                timezone=schedule.timezone or "",
                day_or=schedule.day_or,
            )
        )
    elif isinstance(schedule, IntervalSchedule):
        message.interval.CopyFrom(
            deployments_pb2.IntervalSchedule(
                interval=duration_to_pb(schedule.interval),
                anchor_time=timestamp_to_pb(schedule.anchor_time),
                timezone=schedule.timezone or "",
            )
        )
    else:
        message.rrule.CopyFrom(
            deployments_pb2.RRuleSchedule(rrule=schedule.rrule, timezone=schedule.timezone or "")
        )
    return message


def _schedule_from_pb(
    message: deployments_pb2.DeploymentSchedule,
) -> CronSchedule | IntervalSchedule | RRuleSchedule:
    kind = message.WhichOneof("schedule")
    if kind == "cron":
        cron = message.cron
        return CronSchedule(
            expression=cron.expression, timezone=cron.timezone or None, day_or=cron.day_or
        )
    if kind == "interval":
        interval = message.interval
        return IntervalSchedule(
            interval=interval.interval.ToTimedelta(),
            anchor_time=timestamp_field(interval, "anchor_time"),
            timezone=interval.timezone or None,
        )
    if kind == "rrule":
        return RRuleSchedule(rrule=message.rrule.rrule, timezone=message.rrule.timezone or None)
    raise ValueError("deployment schedule has no cron, interval or rrule")


def deployment_schedule_from_pb(message: deployments_pb2.DeploymentSchedule) -> DeploymentSchedule:
    return DeploymentSchedule(
        schedule=_schedule_from_pb(message),
        id=uuid_from_pb(message.id),
        active=message.active,
        parameters=json_object_from_pb(message.parameters_json),
        catchup=enum_from_pb(_CATCHUPS_BACK, message.catchup, "catchup policy"),
    )


def deployment_to_pb(deployment: Deployment) -> deployments_pb2.Deployment:
    return deployments_pb2.Deployment(
        id=id_to_pb(deployment.id),
        name=deployment.name,
        flow_id=id_to_pb(deployment.flow_id),
        flow_name=deployment.flow_name,
        entrypoint=deployment.entrypoint,
        description=deployment.description,
        version=deployment.version or "",
        tags=deployment.tags,
        parameters_json=json_object_to_pb(deployment.parameters, "parameters_json"),
        parameter_schema_json=json_object_to_pb(
            deployment.parameter_schema, "parameter_schema_json"
        ),
        enforce_parameter_schema=deployment.enforce_parameter_schema,
        schedules=[deployment_schedule_to_pb(item) for item in deployment.schedules],
        paused=deployment.paused,
        concurrency_limit=deployment.concurrency_limit,
        collision_strategy=_COLLISIONS[deployment.collision_strategy],
        work_pool_name=deployment.work_pool_name or "",
        work_queue_name=deployment.work_queue_name or "",
        job_variables_json=json_object_to_pb(deployment.job_variables, "job_variables_json"),
        retry_policy=retry_policy_to_pb(deployment.retry_policy),
        runtime=deployment.runtime,
        create_time=timestamp_to_pb(deployment.create_time),
        update_time=timestamp_to_pb(deployment.update_time),
    )


def deployment_from_pb(message: deployments_pb2.Deployment) -> Deployment:
    limit = message.concurrency_limit if message.HasField("concurrency_limit") else None
    return Deployment(
        id=uuid_from_pb(message.id),
        name=message.name,
        flow_id=uuid_from_pb(message.flow_id),
        flow_name=message.flow_name,
        entrypoint=message.entrypoint,
        description=message.description,
        version=message.version or None,
        tags=tuple(message.tags),
        parameters=json_object_from_pb(message.parameters_json),
        parameter_schema=json_object_from_pb(message.parameter_schema_json),
        enforce_parameter_schema=message.enforce_parameter_schema,
        schedules=tuple(deployment_schedule_from_pb(item) for item in message.schedules),
        paused=message.paused,
        concurrency_limit=limit,
        collision_strategy=enum_from_pb(
            _COLLISIONS_BACK, message.collision_strategy, "collision strategy"
        ),
        work_pool_name=message.work_pool_name or None,
        work_queue_name=message.work_queue_name or None,
        job_variables=json_object_from_pb(message.job_variables_json),
        retry_policy=retry_policy_from_pb(message),
        runtime=message.runtime or DEFAULT_RUNTIME,
        create_time=timestamp_field(message, "create_time"),
        update_time=timestamp_field(message, "update_time"),
    )


# Model fields that travel as JSON text, under the names of their proto fields.
_JSON_FIELDS = {
    "parameters": "parameters_json",
    "parameter_schema": "parameter_schema_json",
    "job_variables": "job_variables_json",
}


def deployment_mask_paths(fields: Iterable[str]) -> list[str]:
    """The update mask paths for ``Deployment`` model fields (``parameters`` is sent as
    ``parameters_json``)."""
    return [_JSON_FIELDS.get(field, field) for field in fields]
