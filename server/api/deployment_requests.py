"""Validation of deployment requests into the values the repositories write.

Every failure is an INVALID_ARGUMENT naming the field by its path in the request, e.g.
"deployment.schedules[1].cron.timezone".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf import field_mask_pb2, timestamp_pb2

from runplane.server.api import convert
from runplane.server.api.errors import invalid_argument
from runplane.server.api.flow_run_messages import retry_policy
from runplane.server.api.validation import (
    MAX_OBJECT_JSON_BYTES,
    check_label,
    check_tags,
    enum_value,
    json_object,
    optional_name,
    optional_text,
    parse_optional_uuid,
    parse_uuid,
    require_name,
    runtime_name,
    update_paths,
)
from runplane.server.db.deployments import DeploymentRecord, DeploymentValues, ScheduleValues
from runplane.server.orchestration import schedules as schedule_rules
from runplane.server.orchestration.deployments import (
    DEFAULT_WORK_POOL,
    DEFAULT_WORK_QUEUE,
    UPDATABLE_FIELDS,
    entrypoint_problem,
    merge_parameters,
)
from runplane.server.orchestration.parameter_schemas import (
    ParameterError,
    check_parameters,
    schema_problem,
)
from runplane.v1 import deployments_pb2

MAX_DESCRIPTION_LENGTH = 100_000
MAX_ENTRYPOINT_LENGTH = 1024
MAX_VERSION_LENGTH = 256
MAX_SCHEDULES = 100
MAX_IDEMPOTENCY_KEY_LENGTH = 512
_COLLISION_STRATEGIES = frozenset(deployments_pb2.CollisionStrategy.values())
_CATCHUP_POLICIES = frozenset(deployments_pb2.CatchupPolicy.values())
# Update mask paths of the JSON-text fields, and the columns they change.
_JSON_COLUMNS = {"parameters_json": "parameters", "job_variables_json": "job_variables"}
_MASK_PATHS = (UPDATABLE_FIELDS - set(_JSON_COLUMNS.values())) | set(_JSON_COLUMNS)
# Timestamps a datetime can hold: years 1 to 9999.
_MIN_SECONDS = -62135596800
_MAX_SECONDS = 253402300799


@dataclass(frozen=True, slots=True)
class DeploymentInput:
    """A validated CreateDeployment: the flow by id or by name, the name and the rest."""

    flow_id: uuid.UUID | None
    flow_name: str | None
    name: str
    values: DeploymentValues
    schedules: list[ScheduleValues]


@dataclass(frozen=True, slots=True)
class DeploymentUpdate:
    """A validated UpdateDeployment: columns to set, and the schedules when they change."""

    deployment_id: uuid.UUID
    changes: dict[str, Any]
    schedules: list[ScheduleValues] | None


def parse_timestamp(field: str, message: timestamp_pb2.Timestamp) -> datetime:
    if not _MIN_SECONDS <= message.seconds <= _MAX_SECONDS or not 0 <= message.nanos < 10**9:
        raise invalid_argument(field, "is not a valid timestamp")
    return convert.to_datetime(message)


def parse_object(field: str, text: str) -> dict[str, Any]:
    """A ``*_json`` field holding a JSON object: parameters, job variables, a schema."""
    return json_object(field, text, MAX_OBJECT_JSON_BYTES)


def resource_name(field: str, value: str) -> str:
    """Deployment and pool names cannot hold "/", which separates "flow/deployment"."""
    name = require_name(field, value)
    if "/" in name:
        raise invalid_argument(field, "must not contain '/'")
    return name


def _schedule_spec(field: str, message: deployments_pb2.DeploymentSchedule) -> tuple[str, Any]:
    kind = message.WhichOneof("schedule")
    if kind is None:
        raise invalid_argument(field, "needs exactly one of cron, interval and rrule")
    if kind == "cron":
        cron = message.cron
        schedule_rules.check_cron(cron.expression)
        schedule_rules.check_timezone("cron.timezone", cron.timezone)
        return kind, {
            "expression": cron.expression.strip(),
            "timezone": cron.timezone,
            "day_or": cron.day_or,
        }
    if kind == "interval":
        interval = message.interval
        seconds = interval.interval.seconds + interval.interval.nanos / 1e9
        schedule_rules.check_interval(seconds)
        schedule_rules.check_timezone("interval.timezone", interval.timezone)
        anchor = None
        if interval.HasField("anchor_time"):
            parse_timestamp(f"{field}.interval.anchor_time", interval.anchor_time)
            anchor = interval.anchor_time.ToJsonString()
        return kind, {"seconds": seconds, "anchor_time": anchor, "timezone": interval.timezone}
    rrule = message.rrule
    schedule_rules.check_rrule(rrule.rrule)
    schedule_rules.check_timezone("rrule.timezone", rrule.timezone)
    return kind, {"rrule": rrule.rrule.strip(), "timezone": rrule.timezone}


def parse_schedules(
    field: str, messages: Sequence[deployments_pb2.DeploymentSchedule]
) -> list[ScheduleValues]:
    if len(messages) > MAX_SCHEDULES:
        raise invalid_argument(field, f"at most {MAX_SCHEDULES} schedules are allowed")
    parsed = []
    for index, message in enumerate(messages):
        where = f"{field}[{index}]"
        try:
            kind, spec = _schedule_spec(where, message)
        except schedule_rules.ScheduleError as error:
            raise invalid_argument(f"{where}.{error.field}", error.message) from None
        catchup = enum_value(f"{where}.catchup", message.catchup, _CATCHUP_POLICIES, required=False)
        parameters = parse_object(f"{where}.parameters_json", message.parameters_json)
        parsed.append(ScheduleValues(message.active, parameters, catchup, kind, spec))
    return parsed


def concurrency_limit(field: str, message: deployments_pb2.Deployment) -> int | None:
    if not message.HasField("concurrency_limit"):
        return None
    if message.concurrency_limit < 0:
        raise invalid_argument(field, "must not be negative")
    return message.concurrency_limit


def collision_strategy(field: str, value: int) -> int:
    return enum_value(field, value, _COLLISION_STRATEGIES, required=False)


def work_queue_name(field: str, value: str) -> str:
    return resource_name(field, value) if value else DEFAULT_WORK_QUEUE


def parameter_schema(field: str, value: str) -> dict[str, Any]:
    """A valid JSON schema (an empty one accepts any parameters)."""
    schema = parse_object(field, value)
    problem = schema_problem(schema)
    if problem is not None:
        raise invalid_argument(field, problem)
    return schema


def run_parameters(deployment: DeploymentRecord, given: Mapping[str, Any]) -> dict[str, Any]:
    """A new run's parameters: the deployment's defaults and the given ones, checked against
    the deployment's schema when it is enforced (the field is named ``parameters.<name>``)."""
    parameters = merge_parameters(deployment.parameters, given)
    if deployment.enforce_parameter_schema:
        try:
            check_parameters(parameters, deployment.parameter_schema)
        except ParameterError as error:
            raise invalid_argument(f"parameters.{error.name}", error.message) from None
    return parameters


def parse_create(message: deployments_pb2.Deployment) -> DeploymentInput:
    """Validates CreateDeployment's deployment; id and times are ignored."""
    p = "deployment"
    flow_id = parse_optional_uuid(f"{p}.flow_id", message.flow_id)
    flow_name = optional_name(f"{p}.flow_name", message.flow_name)
    if flow_id is None and flow_name is None:
        raise invalid_argument(f"{p}.flow_name", "give flow_name or flow_id")
    name = resource_name(f"{p}.name", message.name)
    entrypoint = require_name(f"{p}.entrypoint", message.entrypoint, MAX_ENTRYPOINT_LENGTH)
    problem = entrypoint_problem(entrypoint)
    if problem is not None:
        raise invalid_argument(f"{p}.entrypoint", problem)
    retries, retry_delays = retry_policy(f"{p}.retry_policy", message.retry_policy)
    values = DeploymentValues(
        entrypoint=entrypoint,
        description=optional_text(f"{p}.description", message.description, MAX_DESCRIPTION_LENGTH),
        version=check_label(f"{p}.version", message.version, MAX_VERSION_LENGTH),
        tags=check_tags(f"{p}.tags", message.tags),
        parameters=parse_object(f"{p}.parameters_json", message.parameters_json),
        parameter_schema=parameter_schema(
            f"{p}.parameter_schema_json", message.parameter_schema_json
        ),
        enforce_parameter_schema=message.enforce_parameter_schema,
        paused=message.paused,
        concurrency_limit=concurrency_limit(f"{p}.concurrency_limit", message),
        collision_strategy=collision_strategy(
            f"{p}.collision_strategy", message.collision_strategy
        ),
        work_pool_name=(
            resource_name(f"{p}.work_pool_name", message.work_pool_name)
            if message.work_pool_name
            else DEFAULT_WORK_POOL
        ),
        work_queue_name=work_queue_name(f"{p}.work_queue_name", message.work_queue_name),
        job_variables=parse_object(f"{p}.job_variables_json", message.job_variables_json),
        retries=retries,
        retry_delays=retry_delays,
        runtime=runtime_name(f"{p}.runtime", message.runtime),
    )
    schedules = parse_schedules(f"{p}.schedules", message.schedules)
    return DeploymentInput(flow_id, flow_name, name, values, schedules)


def _changed_value(path: str, message: deployments_pb2.Deployment) -> Any:
    field = f"deployment.{path}"
    if path == "concurrency_limit":
        return concurrency_limit(field, message)
    if path == "collision_strategy":
        return collision_strategy(field, message.collision_strategy)
    if path == "tags":
        return check_tags(field, message.tags)
    if path == "work_queue_name":
        return work_queue_name(field, message.work_queue_name)
    if path == "description":
        return optional_text(field, message.description, MAX_DESCRIPTION_LENGTH)
    if path == "version":
        return check_label(field, message.version, MAX_VERSION_LENGTH)
    return message.paused


def parse_update(
    message: deployments_pb2.Deployment, mask: field_mask_pb2.FieldMask
) -> DeploymentUpdate:
    deployment_id = parse_uuid("deployment.id", message.id)
    paths = update_paths(mask, _MASK_PATHS)
    changes: dict[str, Any] = {}
    schedules = None
    for path in paths:
        if path == "schedules":
            schedules = parse_schedules("deployment.schedules", message.schedules)
        elif path == "retry_policy":
            policy = retry_policy("deployment.retry_policy", message.retry_policy)
            changes["retries"], changes["retry_delays"] = policy
        elif path in _JSON_COLUMNS:
            text = getattr(message, path)
            changes[_JSON_COLUMNS[path]] = parse_object(f"deployment.{path}", text)
        else:
            changes[path] = _changed_value(path, message)
    return DeploymentUpdate(deployment_id, changes, schedules)


def idempotency_key(field: str, value: str) -> str | None:
    if not value:
        return None
    return check_label(field, value, MAX_IDEMPOTENCY_KEY_LENGTH)
