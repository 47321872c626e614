"""Text through the API: names refuse control characters, free text and JSON values come back
exactly as sent (NUL included) on both databases, and no string reaches the database
unbounded."""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from grpc_support import refused_field

from runplane.server import RunplaneServer
from runplane.server.api.pagination import encode_token, filter_fingerprint
from runplane.v1 import (
    artifacts_pb2,
    artifacts_pb2_grpc,
    concurrency_pb2,
    deployments_pb2,
    deployments_pb2_grpc,
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2,
    flows_pb2_grpc,
    logs_pb2,
    logs_pb2_grpc,
    states_pb2,
    task_runs_pb2,
    task_runs_pb2_grpc,
    variables_pb2,
    variables_pb2_grpc,
    work_pb2,
    work_pb2_grpc,
)

pytestmark = pytest.mark.anyio

NUL_NAME = "a\x00b"
ANY_ID = "6f1f7f0e-0000-4000-8000-000000000000"
# NUL, the escape PostgreSQL storage uses for it, and what the escaped forms look like.
TEXTS = ["a\x00b", "\x00", "\x10", "\x100", "\x10\x00\x10", "\\u0000", "x\x00\x10\x00\x10\x10y"]


def _state(**fields: Any) -> states_pb2.State:
    return states_pb2.State(type=states_pb2.STATE_TYPE_RUNNING, **fields)


NUL_IN_IDENTIFIERS = [
    (flows_pb2.CreateFlowRequest(name=NUL_NAME), "name"),
    (flows_pb2.CreateFlowRequest(name="f", tags=["ok", NUL_NAME]), "tags[1]"),
    (flows_pb2.GetFlowRequest(name=NUL_NAME), "name"),
    (flows_pb2.ListFlowsRequest(name_prefix=NUL_NAME), "name_prefix"),
    (work_pb2.CreateWorkPoolRequest(work_pool=work_pb2.WorkPool(name=NUL_NAME)), "work_pool.name"),
    (work_pb2.GetWorkPoolRequest(name=NUL_NAME), "name"),
    (work_pb2.DeleteWorkPoolRequest(name=NUL_NAME), "name"),
    (work_pb2.ListWorkQueuesRequest(work_pool_name=NUL_NAME), "work_pool_name"),
    (work_pb2.SubscribeWorkRequest(work_pool_name=NUL_NAME, free_slots=1), "work_pool_name"),
    (
        work_pb2.SubscribeWorkRequest(work_pool_name="p", runner_name="r\x1b[31m", free_slots=1),
        "runner_name",
    ),
    (concurrency_pb2.CreateConcurrencyLimitRequest(name=NUL_NAME, limit=1), "name"),
    (concurrency_pb2.GetConcurrencyLimitRequest(name=NUL_NAME), "name"),
    (
        concurrency_pb2.AcquireConcurrencySlotsRequest(names=["ok", NUL_NAME], holder_id="h"),
        "names[1]",
    ),
    (
        concurrency_pb2.AcquireConcurrencySlotsRequest(names=["ok"], holder_id=NUL_NAME),
        "holder_id",
    ),
    (variables_pb2.SetVariableRequest(name=NUL_NAME, value_json="null"), "name"),
    (variables_pb2.ListVariablesRequest(name_prefix=NUL_NAME), "name_prefix"),
    (
        artifacts_pb2.CreateArtifactRequest(
            key=NUL_NAME, type=artifacts_pb2.ARTIFACT_TYPE_MARKDOWN, data="d"
        ),
        "key",
    ),
    (task_runs_pb2.LookupCachedStateRequest(cache_key=NUL_NAME), "cache_key"),
    (
        flow_runs_pb2.ListFlowRunsRequest(filter=flow_runs_pb2.FlowRunFilter(tags=[NUL_NAME])),
        "filter.tags[0]",
    ),
    (
        flow_runs_pb2.ListFlowRunsRequest(
            filter=flow_runs_pb2.FlowRunFilter(state_names=[NUL_NAME])
        ),
        "filter.state_names[0]",
    ),
    (
        flow_runs_pb2.ListFlowRunsRequest(
            filter=flow_runs_pb2.FlowRunFilter(work_pool_name=NUL_NAME)
        ),
        "filter.work_pool_name",
    ),
    (deployments_pb2.ListDeploymentsRequest(flow_name=NUL_NAME), "flow_name"),
    (deployments_pb2.ListDeploymentsRequest(work_pool_name=NUL_NAME), "work_pool_name"),
    (deployments_pb2.GetDeploymentRequest(name=f"flow/{NUL_NAME}"), "name"),
    (
        deployments_pb2.CreateDeploymentRequest(
            deployment=deployments_pb2.Deployment(
                flow_name="f", name=NUL_NAME, entrypoint="flows.py:f"
            )
        ),
        "deployment.name",
    ),
    (
        deployments_pb2.CreateDeploymentRequest(
            deployment=deployments_pb2.Deployment(
                flow_name="f", name="d", entrypoint="flows.py:f", version=NUL_NAME
            )
        ),
        "deployment.version",
    ),
    (flow_runs_pb2.CreateFlowRunRequest(flow_id=ANY_ID, name=NUL_NAME), "name"),
    (flow_runs_pb2.CreateFlowRunRequest(flow_id=ANY_ID, tags=[NUL_NAME]), "tags[0]"),
    (
        flow_runs_pb2.CreateFlowRunRequest(flow_id=ANY_ID, idempotency_key=NUL_NAME),
        "idempotency_key",
    ),
    (
        flow_runs_pb2.SetFlowRunStateRequest(flow_run_id=ANY_ID, state=_state(name=NUL_NAME)),
        "state.name",
    ),
    (
        flow_runs_pb2.SetFlowRunStateRequest(
            flow_run_id=ANY_ID,
            state=_state(details=states_pb2.StateDetails(cache_key=NUL_NAME)),
        ),
        "state.details.cache_key",
    ),
    (
        task_runs_pb2.ReportTaskRunsRequest(
            flow_run_id=ANY_ID,
            updates=[
                task_runs_pb2.TaskRunUpdate(
                    sequence=1,
                    task_run_id=ANY_ID,
                    create=task_runs_pb2.TaskRunSpec(task_key="t", name=NUL_NAME),
                )
            ],
        ),
        "updates[0].create.name",
    ),
    (
        logs_pb2.WriteLogsRequest(
            records=[logs_pb2.LogRecord(flow_run_id=ANY_ID, logger_name=NUL_NAME)]
        ),
        "records[0].logger_name",
    ),
]


@pytest.mark.parametrize(
    ("request_message", "field"),
    NUL_IN_IDENTIFIERS,
    ids=[f"{type(r).__name__}-{f}" for r, f in NUL_IN_IDENTIFIERS],
)
async def test_a_control_character_in_an_identifier_is_refused_naming_the_field(
    server: RunplaneServer, request_message: Message, field: str
) -> None:
    assert await refused_field(server.address, request_message) == field


@pytest.mark.parametrize("character", ["\x01", "\t", "\n", "\x1b", "\x7f", "\x85", "\x9f"])
async def test_every_control_character_is_refused_in_a_name(
    server: RunplaneServer, character: str
) -> None:
    request = flows_pb2.CreateFlowRequest(name=f"flow{character}name")
    assert await refused_field(server.address, request) == "name"


async def test_a_name_prefix_over_the_maximum_is_refused_on_every_database(
    server: RunplaneServer,
) -> None:
    prefix = "x" * 100_000
    assert (
        await refused_field(server.address, flows_pb2.ListFlowsRequest(name_prefix=prefix))
        == "name_prefix"
    )
    assert (
        await refused_field(server.address, variables_pb2.ListVariablesRequest(name_prefix=prefix))
        == "name_prefix"
    )


async def test_like_wildcards_in_a_name_prefix_match_only_themselves(
    server: RunplaneServer,
) -> None:
    tag = uuid.uuid4().hex[:8]
    names = [f"{tag}a_b", f"{tag}axb", f"{tag}a%c", f"{tag}abc"]
    async with grpc.aio.insecure_channel(server.address) as channel:
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        for name in names:
            await flows.CreateFlow(flows_pb2.CreateFlowRequest(name=name))

        async def listed(prefix: str) -> list[str]:
            answer = await flows.ListFlows(flows_pb2.ListFlowsRequest(name_prefix=prefix))
            return [flow.name for flow in answer.flows]

        assert await listed(f"{tag}a_") == [f"{tag}a_b"]
        assert await listed(f"{tag}a%") == [f"{tag}a%c"]
        assert sorted(await listed(f"{tag}a")) == sorted(names)


def _value(data: Any) -> str:
    return json.dumps(data)


def _json(text: str) -> Any:
    return json.loads(text)


# Strings in values and keys, nested, next to plain ones.
JSON_DATA = {
    "plain": "text",
    **{f"key{index}{text}": [text, {"nested": text}] for index, text in enumerate(TEXTS)},
}


async def test_free_text_and_json_values_come_back_exactly_as_sent(
    server: RunplaneServer,
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        flow = (await flows.CreateFlow(flows_pb2.CreateFlowRequest(name="text"))).flow
        parameters = _value(JSON_DATA)
        created = await runs.CreateFlowRun(
            flow_runs_pb2.CreateFlowRunRequest(
                flow_id=flow.id, parameters_json=parameters, job_variables_json=parameters
            )
        )
        run_id = created.flow_run.id
        messages = []
        for text in TEXTS:
            answer = await runs.SetFlowRunState(
                flow_runs_pb2.SetFlowRunStateRequest(
                    flow_run_id=run_id,
                    state=_state(message=f"running {text}"),
                    transition_id=str(uuid.uuid4()),
                )
            )
            assert answer.result.status == states_pb2.ORCHESTRATION_STATUS_ACCEPT
            assert answer.result.state.message == f"running {text}"
            messages.append(f"running {text}")
        result = states_pb2.ResultRef(serializer="json", inline_value_json=_value(JSON_DATA))
        done = await runs.SetFlowRunState(
            flow_runs_pb2.SetFlowRunStateRequest(
                flow_run_id=run_id,
                state=states_pb2.State(
                    type=states_pb2.STATE_TYPE_COMPLETED, message=TEXTS[0], result=result
                ),
                transition_id=str(uuid.uuid4()),
            )
        )
        assert done.result.status == states_pb2.ORCHESTRATION_STATUS_ACCEPT

        stored = await runs.GetFlowRun(flow_runs_pb2.GetFlowRunRequest(flow_run_id=run_id))
        run = stored.flow_run
        assert _json(run.parameters_json) == JSON_DATA
        assert _json(run.job_variables_json) == JSON_DATA
        assert run.state.message == TEXTS[0]
        assert _json(run.state.result.inline_value_json) == JSON_DATA
        history = await runs.ListFlowRunStates(
            flow_runs_pb2.ListFlowRunStatesRequest(flow_run_id=run_id, page_size=200)
        )
        assert [state.message for state in history.states][-len(TEXTS) - 1 :] == [
            *messages,
            TEXTS[0],
        ]
        listed = await runs.ListFlowRuns(
            flow_runs_pb2.ListFlowRunsRequest(
                filter=flow_runs_pb2.FlowRunFilter(flow_ids=[flow.id])
            )
        )
        assert _json(listed.flow_runs[0].parameters_json) == JSON_DATA


async def test_a_task_run_state_message_comes_back_as_sent(server: RunplaneServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        tasks = task_runs_pb2_grpc.TaskRunServiceStub(channel)
        flow = (await flows.CreateFlow(flows_pb2.CreateFlowRequest(name="text-tasks"))).flow
        run = await runs.CreateFlowRun(flow_runs_pb2.CreateFlowRunRequest(flow_id=flow.id))
        task_run_id = str(uuid.uuid4())
        failed = states_pb2.State(type=states_pb2.STATE_TYPE_FAILED, message=TEXTS[-1])
        await tasks.ReportTaskRuns(
            task_runs_pb2.ReportTaskRunsRequest(
                flow_run_id=run.flow_run.id,
                updates=[
                    task_runs_pb2.TaskRunUpdate(
                        sequence=1,
                        task_run_id=task_run_id,
                        create=task_runs_pb2.TaskRunSpec(task_key="t", dynamic_key="0"),
                    ),
                    task_runs_pb2.TaskRunUpdate(
                        sequence=2, task_run_id=task_run_id, state=_state(message=TEXTS[0])
                    ),
                    task_runs_pb2.TaskRunUpdate(sequence=3, task_run_id=task_run_id, state=failed),
                ],
            )
        )
        task_run = await tasks.GetTaskRun(task_runs_pb2.GetTaskRunRequest(task_run_id=task_run_id))
        assert task_run.task_run.state.message == TEXTS[-1]
        history = await tasks.ListTaskRunStates(
            task_runs_pb2.ListTaskRunStatesRequest(task_run_id=task_run_id)
        )
        assert [state.message for state in history.states] == [TEXTS[0], TEXTS[-1]]


async def test_log_lines_artifacts_and_variables_come_back_as_sent(
    server: RunplaneServer,
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        flow = (await flows.CreateFlow(flows_pb2.CreateFlowRequest(name="text-logs"))).flow
        run_id = (
            await runs.CreateFlowRun(flow_runs_pb2.CreateFlowRunRequest(flow_id=flow.id))
        ).flow_run.id

        logs = logs_pb2_grpc.LogServiceStub(channel)
        lines = ["before", *TEXTS, "after"]
        records = [
            logs_pb2.LogRecord(flow_run_id=run_id, level=20, logger_name="l", message=line)
            for line in lines
        ]
        written = await logs.WriteLogs(logs_pb2.WriteLogsRequest(records=records))
        assert written.written_count == len(lines)
        listed = await logs.ListLogs(
            logs_pb2.ListLogsRequest(filter=logs_pb2.LogFilter(flow_run_id=run_id))
        )
        assert [record.message for record in listed.records] == lines

        artifacts = artifacts_pb2_grpc.ArtifactServiceStub(channel)
        for text in TEXTS:
            created = await artifacts.CreateArtifact(
                artifacts_pb2.CreateArtifactRequest(
                    key="report",
                    type=artifacts_pb2.ARTIFACT_TYPE_MARKDOWN,
                    data=f"# {text}",
                    description=text,
                    flow_run_id=run_id,
                )
            )
            got = await artifacts.GetArtifact(
                artifacts_pb2.GetArtifactRequest(artifact_id=created.artifact.id)
            )
            assert (got.artifact.data, got.artifact.description) == (f"# {text}", text)

        variables = variables_pb2_grpc.VariableServiceStub(channel)
        for index, data in enumerate([JSON_DATA, TEXTS[0], [TEXTS[2], TEXTS[3]]]):
            name = f"text-{index}"
            await variables.SetVariable(
                variables_pb2.SetVariableRequest(name=name, value_json=_value(data))
            )
            got_variable = await variables.GetVariable(variables_pb2.GetVariableRequest(name=name))
            assert _json(got_variable.variable.value_json) == data
        page = await variables.ListVariables(
            variables_pb2.ListVariablesRequest(name_prefix="text-")
        )
        assert _json(page.variables[0].value_json) == JSON_DATA


async def test_deployment_and_work_pool_texts_come_back_as_sent(server: RunplaneServer) -> None:
    parameters = _value(JSON_DATA)
    schedule = deployments_pb2.DeploymentSchedule(
        interval=deployments_pb2.IntervalSchedule(interval={"seconds": 3600}),
        parameters_json=parameters,
        active=False,
    )
    given = deployments_pb2.Deployment(
        flow_name="text-deployed",
        name="d",
        entrypoint="flows.py:f",
        description=TEXTS[-1],
        parameters_json=parameters,
        job_variables_json=parameters,
        schedules=[schedule],
    )
    async with grpc.aio.insecure_channel(server.address) as channel:
        deployments = deployments_pb2_grpc.DeploymentServiceStub(channel)
        created = await deployments.CreateDeployment(
            deployments_pb2.CreateDeploymentRequest(deployment=given)
        )
        got = await deployments.GetDeployment(
            deployments_pb2.GetDeploymentRequest(deployment_id=created.deployment.id)
        )
        stored = got.deployment
        assert stored.description == TEXTS[-1]
        assert _json(stored.parameters_json) == JSON_DATA
        assert _json(stored.job_variables_json) == JSON_DATA
        assert _json(stored.schedules[0].parameters_json) == JSON_DATA

        work = work_pb2_grpc.WorkServiceStub(channel)
        pool = work_pb2.WorkPool(name="text-pool", description=TEXTS[0])
        await work.CreateWorkPool(work_pb2.CreateWorkPoolRequest(work_pool=pool))
        got_pool = await work.GetWorkPool(work_pb2.GetWorkPoolRequest(name="text-pool"))
        assert got_pool.work_pool.description == TEXTS[0]


async def test_a_page_token_holding_a_control_character_is_refused(
    server: RunplaneServer,
) -> None:
    token = encode_token(["a\x00b"], filter_fingerprint(""))
    request = flows_pb2.ListFlowsRequest(page_token=token)
    assert await refused_field(server.address, request) == "page_token"
