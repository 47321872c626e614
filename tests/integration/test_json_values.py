"""JSON values keep their types through the contract, as any client sees them with raw stubs.

Parameters, job variables, variable values and inline results travel as JSON text: integers
of any size stay exact, ``1.0`` stays a float, on both databases. NaN and Infinity are refused
with INVALID_ARGUMENT naming the value's path, and nothing is written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_support import bad_field

from runplane.server import RunplaneServer
from runplane.v1 import (
    deployments_pb2,
    deployments_pb2_grpc,
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2,
    flows_pb2_grpc,
    states_pb2,
    variables_pb2,
    variables_pb2_grpc,
)

pytestmark = pytest.mark.anyio

# Values that a Struct (every number a double) could not carry as they are.
VALUES: dict[str, Any] = {
    "one_float": 1.0,
    "one": 1,
    "past_double": 2**53 + 1,
    "huge": 10**30,
    "minus_huge": -(10**30),
    "big_float": 1e16,
    "tiny_float": 5e-324,
    "fraction": 0.1,
    "nested": {"rows": [1.5, [2.0, {"z": 3}]], "empty": {}, "none": []},
    "unicode": "h\u00e9llo \u2713 \U0001d11e",
    "null": None,
    "flag": True,
}


def same(got: Any, expected: Any, path: str = "value") -> None:
    """Equal, with the same Python types all the way down (``1 == 1.0`` is not enough)."""
    assert type(got) is type(expected), f"{path}: {got!r} is not {expected!r}"
    if isinstance(expected, dict):
        assert got.keys() == expected.keys(), path
        for key in expected:
            same(got[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(got) == len(expected), path
        for index, (item, wanted) in enumerate(zip(got, expected, strict=True)):
            same(item, wanted, f"{path}[{index}]")
    else:
        assert got == expected, f"{path}: {got!r} != {expected!r}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def channel(server: RunplaneServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as opened:
        yield opened


async def _flow_id(channel: grpc.aio.Channel) -> str:
    flows = flows_pb2_grpc.FlowServiceStub(channel)
    request = flows_pb2.CreateFlowRequest(name=unique("flow"))
    return (await flows.CreateFlow(request)).flow.id


async def _runs_of(channel: grpc.aio.Channel, flow_id: str) -> list[flow_runs_pb2.FlowRun]:
    runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    filter_ = flow_runs_pb2.FlowRunFilter(flow_ids=[flow_id])
    return list(
        (await runs.ListFlowRuns(flow_runs_pb2.ListFlowRunsRequest(filter=filter_))).flow_runs
    )


async def _refused(call: Any) -> str:
    """The field the INVALID_ARGUMENT answer to ``call`` names."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    return bad_field(caught.value)


async def test_run_parameters_and_job_variables_keep_their_types(
    channel: grpc.aio.Channel,
) -> None:
    runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    created = (
        await runs.CreateFlowRun(
            flow_runs_pb2.CreateFlowRunRequest(
                flow_id=await _flow_id(channel),
                parameters_json=json.dumps(VALUES),
                job_variables_json=json.dumps({"env": {"N": "1"}, "cpu": 0.5, "mem": 2**40}),
            )
        )
    ).flow_run
    read = (await runs.GetFlowRun(flow_runs_pb2.GetFlowRunRequest(flow_run_id=created.id))).flow_run
    for run in (created, read):
        same(json.loads(run.parameters_json), VALUES)
        same(json.loads(run.job_variables_json), {"env": {"N": "1"}, "cpu": 0.5, "mem": 2**40})


async def test_negative_zero_stays_a_float_zero(channel: grpc.aio.Channel) -> None:
    """PostgreSQL has no negative zero: -0.0 may come back as 0.0, but always as a float."""
    runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    request = flow_runs_pb2.CreateFlowRunRequest(
        flow_id=await _flow_id(channel), parameters_json='{"z": -0.0}'
    )
    created = (await runs.CreateFlowRun(request)).flow_run
    read = (await runs.GetFlowRun(flow_runs_pb2.GetFlowRunRequest(flow_run_id=created.id))).flow_run
    zero = json.loads(read.parameters_json)["z"]
    assert type(zero) is float
    assert zero == 0.0


async def test_deployment_schedule_and_run_parameters_keep_their_types(
    channel: grpc.aio.Channel,
) -> None:
    stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
    schedule = deployments_pb2.DeploymentSchedule(
        cron=deployments_pb2.CronSchedule(expression="0 9 * * *"),
        parameters_json=json.dumps({"at_nine": 9.0}),
    )
    deployment = (
        await stub.CreateDeployment(
            deployments_pb2.CreateDeploymentRequest(
                deployment=deployments_pb2.Deployment(
                    name=unique("deployment"),
                    flow_name=unique("flow"),
                    entrypoint="flows.py:nightly",
                    parameters_json=json.dumps({"default": 2**53 + 1, "ratio": 3.0}),
                    job_variables_json=json.dumps({"limit": 10**30}),
                    schedules=[schedule],
                    paused=True,
                )
            )
        )
    ).deployment
    same(json.loads(deployment.parameters_json), {"default": 2**53 + 1, "ratio": 3.0})
    same(json.loads(deployment.job_variables_json), {"limit": 10**30})
    same(json.loads(deployment.schedules[0].parameters_json), {"at_nine": 9.0})
    run = (
        await stub.RunDeployment(
            deployments_pb2.RunDeploymentRequest(
                deployment_id=deployment.id,
                parameters_json=json.dumps({"given": 1.0, "nested": VALUES["nested"]}),
            )
        )
    ).flow_run
    expected = {
        "default": 2**53 + 1,
        "ratio": 3.0,
        "given": 1.0,
        "nested": VALUES["nested"],
    }
    same(json.loads(run.parameters_json), expected)
    same(json.loads(run.job_variables_json), {"limit": 10**30})


@pytest.mark.parametrize("value", list(VALUES.values()), ids=list(VALUES))
async def test_variable_values_keep_their_types(channel: grpc.aio.Channel, value: Any) -> None:
    stub = variables_pb2_grpc.VariableServiceStub(channel)
    name = unique("var")
    await stub.SetVariable(
        variables_pb2.SetVariableRequest(name=name, value_json=json.dumps(value))
    )
    read = await stub.GetVariable(variables_pb2.GetVariableRequest(name=name))
    same(json.loads(read.variable.value_json), value)


async def test_inline_results_keep_their_types(channel: grpc.aio.Channel) -> None:
    runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    created = (
        await runs.CreateFlowRun(
            flow_runs_pb2.CreateFlowRunRequest(
                flow_id=await _flow_id(channel),
                state=states_pb2.State(type=states_pb2.STATE_TYPE_RUNNING),
            )
        )
    ).flow_run
    completed = states_pb2.State(
        type=states_pb2.STATE_TYPE_COMPLETED,
        result=states_pb2.ResultRef(serializer="json", inline_value_json=json.dumps(VALUES)),
    )
    await runs.SetFlowRunState(
        flow_runs_pb2.SetFlowRunStateRequest(
            flow_run_id=created.id, state=completed, transition_id=str(uuid.uuid4())
        )
    )
    read = (await runs.GetFlowRun(flow_runs_pb2.GetFlowRunRequest(flow_run_id=created.id))).flow_run
    assert read.state.result.serializer == "json"
    same(json.loads(read.state.result.inline_value_json), VALUES)
    history = await runs.ListFlowRunStates(
        flow_runs_pb2.ListFlowRunStatesRequest(flow_run_id=created.id)
    )
    same(json.loads(history.states[-1].result.inline_value_json), VALUES)


NOT_JSON = [
    ('{"x": NaN}', "parameters.x"),
    ('{"x": Infinity}', "parameters.x"),
    ('{"x": -Infinity}', "parameters.x"),
    ('{"x": 1e999}', "parameters.x"),
    ('{"rows": [{}, {}, {}, {"score": NaN}]}', "parameters.rows[3].score"),
    ('{"odd key": [Infinity]}', 'parameters["odd key"][0]'),
    ('{"s": "\\ud800"}', "parameters.s"),
    ('{"x": 1', "parameters_json"),
    ("[1, 2]", "parameters_json"),
    ('{"x": "' + "y" * (1024 * 1024) + '"}', "parameters_json"),
]


@pytest.mark.parametrize(("text", "field"), NOT_JSON)
async def test_bad_run_parameters_are_refused_naming_the_value_and_nothing_is_written(
    channel: grpc.aio.Channel, text: str, field: str
) -> None:
    runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    flow_id = await _flow_id(channel)
    request = flow_runs_pb2.CreateFlowRunRequest(flow_id=flow_id, parameters_json=text)
    assert await _refused(runs.CreateFlowRun(request)) == field
    assert await _runs_of(channel, flow_id) == []


async def test_infinity_in_a_deployment_or_its_run_is_refused_and_nothing_is_written(
    channel: grpc.aio.Channel,
) -> None:
    stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
    name, flow_name = unique("deployment"), unique("flow")

    def deployment(**fields: Any) -> deployments_pb2.CreateDeploymentRequest:
        message = deployments_pb2.Deployment(
            name=name, flow_name=flow_name, entrypoint="flows.py:nightly", **fields
        )
        return deployments_pb2.CreateDeploymentRequest(deployment=message)

    bad_schedule = deployments_pb2.DeploymentSchedule(
        cron=deployments_pb2.CronSchedule(expression="0 9 * * *"),
        parameters_json='{"x": [NaN]}',
    )
    refusals = [
        (deployment(parameters_json='{"x": Infinity}'), "deployment.parameters.x"),
        (deployment(job_variables_json='{"env": {"A": NaN}}'), "deployment.job_variables.env.A"),
        (deployment(schedules=[bad_schedule]), "deployment.schedules[0].parameters.x[0]"),
        (deployment(parameter_schema_json="{"), "deployment.parameter_schema_json"),
    ]
    for request, field in refusals:
        assert await _refused(stub.CreateDeployment(request)) == field
    missing = deployments_pb2.GetDeploymentRequest(name=f"{flow_name}/{name}")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetDeployment(missing)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND

    created = (await stub.CreateDeployment(deployment(paused=True))).deployment
    run = deployments_pb2.RunDeploymentRequest(
        deployment_id=created.id, parameters_json='{"x": -Infinity}'
    )
    assert await _refused(stub.RunDeployment(run)) == "parameters.x"
    with_jobs = deployments_pb2.RunDeploymentRequest(
        deployment_id=created.id, job_variables_json='{"cpu": NaN}'
    )
    assert await _refused(stub.RunDeployment(with_jobs)) == "job_variables.cpu"
    assert await _runs_of(channel, created.flow_id) == []
    update = deployments_pb2.UpdateDeploymentRequest(
        deployment=deployments_pb2.Deployment(id=created.id, parameters_json='{"x": NaN}'),
        update_mask={"paths": ["parameters_json"]},
    )
    assert await _refused(stub.UpdateDeployment(update)) == "deployment.parameters.x"


async def test_infinity_in_a_variable_or_an_inline_result_is_refused(
    channel: grpc.aio.Channel,
) -> None:
    variables = variables_pb2_grpc.VariableServiceStub(channel)
    name = unique("var")
    request = variables_pb2.SetVariableRequest(name=name, value_json='{"limits": [1, Infinity]}')
    assert await _refused(variables.SetVariable(request)) == "value.limits[1]"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await variables.GetVariable(variables_pb2.GetVariableRequest(name=name))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND

    runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    created = (
        await runs.CreateFlowRun(
            flow_runs_pb2.CreateFlowRunRequest(
                flow_id=await _flow_id(channel),
                state=states_pb2.State(type=states_pb2.STATE_TYPE_RUNNING),
            )
        )
    ).flow_run
    completed = states_pb2.State(
        type=states_pb2.STATE_TYPE_COMPLETED,
        result=states_pb2.ResultRef(serializer="json", inline_value_json="NaN"),
    )
    proposal = flow_runs_pb2.SetFlowRunStateRequest(
        flow_run_id=created.id, state=completed, transition_id=str(uuid.uuid4())
    )
    assert await _refused(runs.SetFlowRunState(proposal)) == "state.result.inline_value"
    read = (await runs.GetFlowRun(flow_runs_pb2.GetFlowRunRequest(flow_run_id=created.id))).flow_run
    assert read.state.type == states_pb2.STATE_TYPE_RUNNING
