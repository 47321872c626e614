"""A string one character over its documented maximum is refused, naming the field.

The maximum is read from the field's comment in the contract, so that the documentation and
the server cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.protobuf.message import Message
from grpc_support import refused_field
from proto_support import documented_maximum

from runplane.server import RunplaneServer
from runplane.v1 import (
    artifacts_pb2,
    concurrency_pb2,
    deployments_pb2,
    flow_runs_pb2,
    flows_pb2,
    logs_pb2,
    states_pb2,
    task_runs_pb2,
    variables_pb2,
    work_pb2,
)

pytestmark = pytest.mark.anyio

Build = Callable[[str], Message]
ANY_ID = "6f1f7f0e-0000-4000-8000-000000000000"


def _state(**fields: object) -> Build:
    def build(value: str) -> Message:
        given = {name: value if given is str else given for name, given in fields.items()}
        state = states_pb2.State(type=states_pb2.STATE_TYPE_RUNNING, **given)  # type: ignore[arg-type]
        return flow_runs_pb2.SetFlowRunStateRequest(flow_run_id=ANY_ID, state=state)

    return build


def _deployment(**fields: object) -> Build:
    def build(value: str) -> Message:
        given = {name: value if given is str else given for name, given in fields.items()}
        base: dict[str, object] = {"flow_name": "f", "name": "d", "entrypoint": "flows.py:f"}
        deployment = deployments_pb2.Deployment(**{**base, **given})  # type: ignore[arg-type]
        return deployments_pb2.CreateDeploymentRequest(deployment=deployment)

    return build


def _spec(field: str) -> Build:
    def build(value: str) -> Message:
        given = {"task_key": "t", field: value}
        spec = task_runs_pb2.TaskRunSpec(**given)  # type: ignore[arg-type]
        update = task_runs_pb2.TaskRunUpdate(sequence=1, task_run_id=ANY_ID, create=spec)
        return task_runs_pb2.ReportTaskRunsRequest(flow_run_id=ANY_ID, updates=[update])

    return build


# (documented message, its field, a request carrying a value there, the field refused)
SAMPLES: list[tuple[str, str, Build, str]] = [
    ("CreateFlowRequest", "name", lambda v: flows_pb2.CreateFlowRequest(name=v), "name"),
    ("GetFlowRequest", "name", lambda v: flows_pb2.GetFlowRequest(name=v), "name"),
    (
        "ListFlowsRequest",
        "name_prefix",
        lambda v: flows_pb2.ListFlowsRequest(name_prefix=v),
        "name_prefix",
    ),
    (
        "ListFlowsRequest",
        "page_token",
        lambda v: flows_pb2.ListFlowsRequest(page_token=v),
        "page_token",
    ),
    (
        "GetFlowRunRequest",
        "flow_run_id",
        lambda v: flow_runs_pb2.GetFlowRunRequest(flow_run_id=v),
        "flow_run_id",
    ),
    (
        "CreateFlowRunRequest",
        "idempotency_key",
        lambda v: flow_runs_pb2.CreateFlowRunRequest(flow_id=ANY_ID, idempotency_key=v),
        "idempotency_key",
    ),
    (
        "CreateFlowRunRequest",
        "flow_version",
        lambda v: flow_runs_pb2.CreateFlowRunRequest(flow_id=ANY_ID, flow_version=v),
        "flow_version",
    ),
    ("State", "message", _state(message=str), "state.message"),
    ("State", "name", _state(name=str), "state.name"),
    (
        "ResultRef",
        "key",
        lambda v: _state(result=states_pb2.ResultRef(key=v, serializer="json"))(v),
        "state.result.key",
    ),
    (
        "StateDetails",
        "cache_key",
        lambda v: _state(details=states_pb2.StateDetails(cache_key=v))(v),
        "state.details.cache_key",
    ),
    ("Deployment", "description", _deployment(description=str), "deployment.description"),
    ("Deployment", "version", _deployment(version=str), "deployment.version"),
    ("Deployment", "entrypoint", _deployment(entrypoint=str), "deployment.entrypoint"),
    (
        "CronSchedule",
        "timezone",
        lambda v: _deployment(
            schedules=[
                deployments_pb2.DeploymentSchedule(
                    cron=deployments_pb2.CronSchedule(expression="* * * * *", timezone=v)
                )
            ]
        )(v),
        "deployment.schedules[0].cron.timezone",
    ),
    (
        "RRuleSchedule",
        "rrule",
        lambda v: _deployment(
            schedules=[
                deployments_pb2.DeploymentSchedule(rrule=deployments_pb2.RRuleSchedule(rrule=v))
            ]
        )(v),
        "deployment.schedules[0].rrule.rrule",
    ),
    (
        "GetDeploymentRequest",
        "name",
        lambda v: deployments_pb2.GetDeploymentRequest(name=f"f/{v[2:]}"),
        "name",
    ),
    (
        "ListDeploymentsRequest",
        "flow_name",
        lambda v: deployments_pb2.ListDeploymentsRequest(flow_name=v),
        "flow_name",
    ),
    (
        "RunDeploymentRequest",
        "idempotency_key",
        lambda v: deployments_pb2.RunDeploymentRequest(deployment_id=ANY_ID, idempotency_key=v),
        "idempotency_key",
    ),
    (
        "LogRecord",
        "logger_name",
        lambda v: logs_pb2.WriteLogsRequest(
            records=[logs_pb2.LogRecord(flow_run_id=ANY_ID, logger_name=v)]
        ),
        "records[0].logger_name",
    ),
    ("TaskRunSpec", "task_key", _spec("task_key"), "updates[0].create.task_key"),
    ("TaskRunSpec", "cache_key", _spec("cache_key"), "updates[0].create.cache_key"),
    ("TaskRunSpec", "name", _spec("name"), "updates[0].create.name"),
    (
        "TaskRunFilter",
        "cache_key",
        lambda v: task_runs_pb2.ListTaskRunsRequest(
            filter=task_runs_pb2.TaskRunFilter(cache_key=v)
        ),
        "filter.cache_key",
    ),
    (
        "LookupCachedStateRequest",
        "cache_key",
        lambda v: task_runs_pb2.LookupCachedStateRequest(cache_key=v),
        "cache_key",
    ),
    (
        "SetVariableRequest",
        "name",
        lambda v: variables_pb2.SetVariableRequest(name=v),
        "name",
    ),
    (
        "ListVariablesRequest",
        "name_prefix",
        lambda v: variables_pb2.ListVariablesRequest(name_prefix=v),
        "name_prefix",
    ),
    (
        "CreateArtifactRequest",
        "description",
        lambda v: artifacts_pb2.CreateArtifactRequest(
            type=artifacts_pb2.ARTIFACT_TYPE_MARKDOWN, data="d", description=v
        ),
        "description",
    ),
    (
        "CreateArtifactRequest",
        "data",
        lambda v: artifacts_pb2.CreateArtifactRequest(
            type=artifacts_pb2.ARTIFACT_TYPE_MARKDOWN, data=v
        ),
        "data",
    ),
    (
        "UpdateArtifactRequest",
        "data",
        lambda v: artifacts_pb2.UpdateArtifactRequest(artifact_id=ANY_ID, data=v),
        "data",
    ),
    (
        "CreateConcurrencyLimitRequest",
        "name",
        lambda v: concurrency_pb2.CreateConcurrencyLimitRequest(name=v, limit=1),
        "name",
    ),
    (
        "AcquireConcurrencySlotsRequest",
        "holder_id",
        lambda v: concurrency_pb2.AcquireConcurrencySlotsRequest(names=["n"], holder_id=v),
        "holder_id",
    ),
    (
        "WorkPool",
        "description",
        lambda v: work_pb2.CreateWorkPoolRequest(
            work_pool=work_pb2.WorkPool(name="p", description=v)
        ),
        "work_pool.description",
    ),
    (
        "SubscribeWorkRequest",
        "runner_name",
        lambda v: work_pb2.SubscribeWorkRequest(work_pool_name="p", runner_name=v, free_slots=1),
        "runner_name",
    ),
    (
        "ReleaseAssignmentRequest",
        "reason",
        lambda v: work_pb2.ReleaseAssignmentRequest(flow_run_id=ANY_ID, lease_id=ANY_ID, reason=v),
        "reason",
    ),
]


@pytest.mark.parametrize(
    ("message", "field", "build", "refused"),
    SAMPLES,
    ids=[f"{message}.{field}" for message, field, _, _ in SAMPLES],
)
async def test_one_character_over_the_documented_maximum_is_refused(
    server: RunplaneServer, message: str, field: str, build: Build, refused: str
) -> None:
    maximum = documented_maximum(f".runplane.v1.{message}", field)
    request = build("x" * (maximum + 1))
    assert await refused_field(server.address, request) == refused
