"""Run parameters are checked against the deployment's parameter schema when the run is created
(RunDeployment and CreateFlowRun for a deployment), so a bad one never reaches a runner."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import grpc
import pytest
from cli_support import invoke
from delivery_support import unique
from grpc_support import bad_field

from runplane import flow
from runplane._client.errors import InvalidArgument
from runplane._client.settings import Settings
from runplane._deployments.runner_deployment import parameter_schema
from runplane._deployments.serve import run_deployment
from runplane.server import RunplaneServer
from runplane.v1 import deployments_pb2, deployments_pb2_grpc, flow_runs_pb2, flow_runs_pb2_grpc

pytestmark = pytest.mark.anyio


@flow
def nightly(batch: int, label: str = "all") -> None:
    """The flow whose signature the schema comes from."""


def _json(values: dict[str, Any]) -> str:
    return json.dumps(values)


@pytest.fixture
async def channel(server: RunplaneServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as opened:
        yield opened


async def _deploy(
    channel: grpc.aio.Channel,
    defaults: dict[str, Any] | None = None,
    schema: dict[str, Any] | None = None,
    enforce: bool = True,
) -> deployments_pb2.Deployment:
    stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
    deployment = deployments_pb2.Deployment(
        name=unique("deployment"),
        flow_name=unique("flow"),
        entrypoint="flows.py:nightly",
        parameters_json=_json(defaults or {}),
        parameter_schema_json=_json(parameter_schema(nightly) if schema is None else schema),
        enforce_parameter_schema=enforce,
    )
    request = deployments_pb2.CreateDeploymentRequest(deployment=deployment)
    return (await stub.CreateDeployment(request)).deployment


async def _run(
    channel: grpc.aio.Channel, deployment_id: str, parameters: dict[str, Any]
) -> flow_runs_pb2.FlowRun:
    stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
    request = deployments_pb2.RunDeploymentRequest(
        deployment_id=deployment_id, parameters_json=_json(parameters)
    )
    return (await stub.RunDeployment(request)).flow_run


async def _create(
    channel: grpc.aio.Channel, deployment: deployments_pb2.Deployment, parameters: dict[str, Any]
) -> flow_runs_pb2.FlowRun:
    stub = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    request = flow_runs_pb2.CreateFlowRunRequest(
        flow_id=deployment.flow_id, deployment_id=deployment.id, parameters_json=_json(parameters)
    )
    return (await stub.CreateFlowRun(request)).flow_run


BAD = [({"batch": 1, "bogus": 1}, "parameters.bogus"), ({"batch": "abc"}, "parameters.batch")]


@pytest.mark.parametrize(("parameters", "field"), BAD)
async def test_run_deployment_refuses_parameters_the_schema_does_not_allow(
    channel: grpc.aio.Channel, parameters: dict[str, Any], field: str
) -> None:
    deployment = await _deploy(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _run(channel, deployment.id, parameters)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert bad_field(caught.value) == field
    assert (
        json.loads((await _run(channel, deployment.id, {"batch": 3})).parameters_json)["batch"] == 3
    )


@pytest.mark.parametrize(("parameters", "field"), BAD)
async def test_create_flow_run_for_a_deployment_refuses_them_too(
    channel: grpc.aio.Channel, parameters: dict[str, Any], field: str
) -> None:
    deployment = await _deploy(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _create(channel, deployment, parameters)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert bad_field(caught.value) == field


async def test_the_merged_parameters_are_checked_and_stored(channel: grpc.aio.Channel) -> None:
    deployment = await _deploy(channel, defaults={"batch": 5})
    created = await _create(channel, deployment, {"label": "eu"})
    assert json.loads(created.parameters_json) == {"batch": 5, "label": "eu"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _create(channel, deployment, {"batch": "five"})
    assert bad_field(caught.value) == "parameters.batch"


async def test_without_enforcement_anything_goes(channel: grpc.aio.Channel) -> None:
    deployment = await _deploy(channel, enforce=False)
    run = await _run(channel, deployment.id, {"batch": "abc", "bogus": 1})
    assert set(json.loads(run.parameters_json)) == {"batch", "bogus"}


async def test_an_invalid_schema_is_refused_at_create_deployment(
    channel: grpc.aio.Channel,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _deploy(channel, schema={"type": "object", "properties": {"batch": {"type": 7}}})
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert bad_field(caught.value) == "deployment.parameter_schema_json"


async def test_the_sdk_and_the_cli_show_the_servers_message(
    server: RunplaneServer, channel: grpc.aio.Channel
) -> None:
    deployment = await _deploy(channel)
    name = f"{deployment.flow_name}/{deployment.name}"
    settings = Settings(api_url=server.address)

    def bogus() -> None:
        run_deployment(name, parameters={"batch": 1, "bogus": 1}, timeout=0, settings=settings)

    with pytest.raises(InvalidArgument) as caught:
        await anyio.to_thread.run_sync(bogus)
    assert caught.value.field == "parameters.bogus"
    code, output = await invoke(server, "deployment", "run", name, "-p", "batch=abc")
    assert code == 1
    assert "parameters.batch: 'abc' is not of type 'integer'" in output
