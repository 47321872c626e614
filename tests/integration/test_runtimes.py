"""Deployments are routed by runtime: a runner is pushed only runs of the runtimes it declared,
whatever else shares its work pool. Raw stubs, as a worker in any language calls them."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from delivery_support import (
    ManualClock,
    create_deployment,
    get_run,
    next_item,
    quiet,
    run_deployment,
    serving,
    unique,
)
from grpc_support import invalid_argument_details

from runplane.server import ServerSettings
from runplane.v1 import (
    deployments_pb2,
    deployments_pb2_grpc,
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2,
    flows_pb2_grpc,
    states_pb2,
    work_pb2,
    work_pb2_grpc,
)

pytestmark = pytest.mark.anyio

SCHEDULED = states_pb2.STATE_TYPE_SCHEDULED


async def subscribe(
    channel: grpc.aio.Channel, pool: str, runtimes: list[str], slots: int = 4
) -> Any:
    """A subscription declaring ``runtimes``, past its ``started`` item."""
    stream = work_pb2_grpc.WorkServiceStub(channel).SubscribeWork(
        work_pb2.SubscribeWorkRequest(
            work_pool_name=pool,
            runner_name=unique("runner"),
            free_slots=slots,
            runtimes=runtimes,
        )
    )
    first = await stream.read()
    assert first.WhichOneof("item") == "started"
    return stream


async def assigned_run_id(stream: Any) -> str:
    item = await next_item(stream, within=10.0)
    assert item.WhichOneof("item") == "assignment", item
    return str(item.assignment.flow_run.id)


@pytest.mark.parametrize("declared", [["python"], []], ids=["python", "nothing"])
async def test_a_python_subscriber_is_never_handed_a_node_run(
    server_settings: ServerSettings, declared: list[str]
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        python_stream = await subscribe(channel, pool, declared)
        node = await create_deployment(channel, pool, runtime="node")
        python = await create_deployment(channel, pool)
        # The node run is due first: a claim that ignored runtimes would hand it out first.
        node_run = await run_deployment(channel, node.id)
        python_run = await run_deployment(channel, python.id)
        assert await assigned_run_id(python_stream) == python_run.id
        # The node run waits for a node runner; once one subscribes, it is that runner's.
        assert (await get_run(channel, node_run.id)).state.type == SCHEDULED
        node_stream = await subscribe(channel, pool, ["node"])
        assert await assigned_run_id(node_stream) == node_run.id
        python_stream.cancel()
        node_stream.cancel()


async def test_runs_go_to_the_subscribers_of_their_runtime_on_a_shared_pool(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        python_stream = await subscribe(channel, pool, ["python"])
        node_stream = await subscribe(channel, pool, ["node"])
        node = await create_deployment(channel, pool, runtime="node")
        python = await create_deployment(channel, pool, runtime="python")
        node_runs = {(await run_deployment(channel, node.id)).id for _ in range(3)}
        python_runs = {(await run_deployment(channel, python.id)).id for _ in range(3)}
        got_node = {await assigned_run_id(node_stream) for _ in range(3)}
        got_python = {await assigned_run_id(python_stream) for _ in range(3)}
        python_stream.cancel()
        node_stream.cancel()
    assert got_node == node_runs
    assert got_python == python_runs


async def test_a_subscriber_of_several_runtimes_takes_each(server_settings: ServerSettings) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        stream = await subscribe(channel, pool, ["node", "python"])
        node = await create_deployment(channel, pool, runtime="node")
        python = await create_deployment(channel, pool)
        wanted = {(await run_deployment(channel, d.id)).id for d in (node, python)}
        got = {await assigned_run_id(stream) for _ in range(2)}
        stream.cancel()
    assert got == wanted


async def test_the_runtime_is_stored_and_copied_onto_the_runs(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        default = await create_deployment(channel, pool)
        node = await create_deployment(channel, pool, runtime="node")
        assert default.runtime == "python"
        assert node.runtime == "node"
        deployments = deployments_pb2_grpc.DeploymentServiceStub(channel)
        got = await deployments.GetDeployment(
            deployments_pb2.GetDeploymentRequest(deployment_id=node.id)
        )
        assert got.deployment.runtime == "node"
        run = await run_deployment(channel, node.id)
        assert run.runtime == "node"
        assert (await get_run(channel, run.id)).runtime == "node"
        # A run created directly for the deployment is its deployment's runtime too.
        flow_runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        created = await flow_runs.CreateFlowRun(
            flow_runs_pb2.CreateFlowRunRequest(
                flow_id=node.flow_id,
                deployment_id=node.id,
                work_pool_name=pool,
                state=states_pb2.State(type=SCHEDULED),
            )
        )
        assert created.flow_run.runtime == "node"
        # A run with no deployment is Python's.
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        flow = await flows.CreateFlow(flows_pb2.CreateFlowRequest(name=unique("flow")))
        ad_hoc = await flow_runs.CreateFlowRun(
            flow_runs_pb2.CreateFlowRunRequest(flow_id=flow.flow.id)
        )
        assert ad_hoc.flow_run.runtime == "python"


async def test_redeploying_with_another_runtime_moves_its_waiting_runs(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (_, channel):
        pool = unique("pool")
        deployment = await create_deployment(channel, pool, runtime="node")
        waiting = await run_deployment(channel, deployment.id)
        stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
        again = deployments_pb2.Deployment(
            name=deployment.name,
            flow_name=deployment.flow_name,
            entrypoint="flows.py:main",
            work_pool_name=pool,
            runtime="python",
        )
        await stub.CreateDeployment(deployments_pb2.CreateDeploymentRequest(deployment=again))
        assert (await get_run(channel, waiting.id)).runtime == "python"
        stream = await subscribe(channel, pool, ["python"])
        assert await assigned_run_id(stream) == waiting.id
        stream.cancel()


@pytest.mark.parametrize("runtime", ["Node", "no de", "node/js", "-node", "x" * 64, "nöde"])
async def test_a_malformed_deployment_runtime_is_invalid_argument(
    server: Any, runtime: str
) -> None:
    request = deployments_pb2.CreateDeploymentRequest(
        deployment=deployments_pb2.Deployment(
            name=unique("deployment"),
            flow_name=unique("flow"),
            entrypoint="flows.py:main",
            runtime=runtime,
        )
    )
    details = await invalid_argument_details(
        server.address, deployments_pb2_grpc.DeploymentServiceStub, request
    )
    assert "deployment.runtime" in details


async def test_a_malformed_subscriber_runtime_is_invalid_argument(server: Any) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        stream = work_pb2_grpc.WorkServiceStub(channel).SubscribeWork(
            work_pb2.SubscribeWorkRequest(
                work_pool_name=unique("pool"), free_slots=1, runtimes=["node", "Py thon"]
            )
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stream.read()
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "runtimes[1]" in (caught.value.details() or "")


async def test_a_late_run_says_no_runner_of_its_runtime_is_subscribed(
    server_settings: ServerSettings,
) -> None:
    clock = ManualClock()
    async with serving(quiet(server_settings), clock) as (server, channel):
        pool = unique("pool")
        stream = await subscribe(channel, pool, ["python"])
        node = await create_deployment(channel, pool, runtime="node")
        run = await run_deployment(channel, node.id)
        clock.advance(server_settings.late_after + 1)
        await server.context.background.late_marker.run_once()
        late = await get_run(channel, run.id)
        stream.cancel()
    assert late.state.name == "Late"
    expected = f"no runner of runtime 'node' is subscribed to work pool {pool!r}"
    assert expected in late.state.message
