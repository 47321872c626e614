"""Each API key has a role: a ``read`` key cannot change anything, a ``worker`` key cannot
delete or change what operators own, and a key without a role keeps full access."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cli_support import invoke
from google.rpc import error_details_pb2
from grpc_support import status_detail
from pydantic import SecretStr

from runplane import PermissionDenied, RunplaneClient, Settings
from runplane._client.channel import authorization_interceptors
from runplane.server import RunplaneServer, ServerSettings, create_server
from runplane.v1 import (
    concurrency_pb2,
    concurrency_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2_grpc,
    states_pb2,
    variables_pb2,
    variables_pb2_grpc,
    work_pb2,
    work_pb2_grpc,
)

pytestmark = pytest.mark.anyio

KEYS = {"read": "reader-k3y", "worker": "worker-k3y", "admin": "admin-k3y", "": "legacy-k3y"}


@pytest.fixture
async def guarded(server_settings: ServerSettings) -> AsyncIterator[RunplaneServer]:
    written = [f"{role}:{key}" if role else key for role, key in KEYS.items()]
    settings = server_settings.model_copy(update={"api_keys": [SecretStr(k) for k in written]})
    async with await create_server(settings) as running:
        yield running


class Stubs:
    """Raw stubs of the services these tests touch, on a channel that sends one key."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.flows = flows_pb2_grpc.FlowServiceStub(channel)
        self.runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        self.deployments = deployments_pb2_grpc.DeploymentServiceStub(channel)
        self.variables = variables_pb2_grpc.VariableServiceStub(channel)
        self.limits = concurrency_pb2_grpc.ConcurrencyServiceStub(channel)
        self.work = work_pb2_grpc.WorkServiceStub(channel)


def _channel(server: RunplaneServer, role: str) -> grpc.aio.Channel:
    interceptors = authorization_interceptors(KEYS[role])
    return grpc.aio.insecure_channel(server.address, interceptors=interceptors)


@dataclass
class Owned:
    """What the admin key created, for the other keys to attack; names are unique, since
    the PostgreSQL database is shared by the tests."""

    deployment: deployments_pb2.Deployment
    run: flow_runs_pb2.FlowRun
    pool: str
    limit: str
    variable: str


async def _create_owned(stubs: Stubs) -> Owned:
    suffix = uuid.uuid4().hex[:10]
    pool, limit, variable = f"pool-{suffix}", f"limit-{suffix}", f"variable_{suffix}"
    await stubs.work.CreateWorkPool(
        work_pb2.CreateWorkPoolRequest(work_pool=work_pb2.WorkPool(name=pool))
    )
    deployment = deployments_pb2.Deployment(
        name="owned", flow_name=f"flow-{suffix}", entrypoint="flows.py:main", work_pool_name=pool
    )
    created = await stubs.deployments.CreateDeployment(
        deployments_pb2.CreateDeploymentRequest(deployment=deployment)
    )
    run = await stubs.deployments.RunDeployment(
        deployments_pb2.RunDeploymentRequest(deployment_id=created.deployment.id)
    )
    await stubs.limits.CreateConcurrencyLimit(
        concurrency_pb2.CreateConcurrencyLimitRequest(name=limit, limit=3)
    )
    await stubs.variables.SetVariable(
        variables_pb2.SetVariableRequest(name=variable, value_json=json.dumps("the owner's"))
    )
    return Owned(created.deployment, run.flow_run, pool, limit, variable)


async def _denied(call: Awaitable[Any]) -> str:
    """The message of the PERMISSION_DENIED the call must be answered with."""
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    assert error.value.code() is grpc.StatusCode.PERMISSION_DENIED, error.value.details()
    assert status_detail(error.value, error_details_pb2.ErrorInfo).reason == "ROLE_REQUIRED"
    return error.value.details() or ""


async def _assert_untouched(stubs: Stubs, owned: Owned) -> None:
    """Everything the admin created is still there, as it was."""
    run = await stubs.runs.GetFlowRun(flow_runs_pb2.GetFlowRunRequest(flow_run_id=owned.run.id))
    assert run.flow_run.state.type == states_pb2.STATE_TYPE_SCHEDULED
    deployment = await stubs.deployments.GetDeployment(
        deployments_pb2.GetDeploymentRequest(deployment_id=owned.deployment.id)
    )
    assert deployment.deployment.paused is False
    assert deployment.deployment.entrypoint == "flows.py:main"
    variable = await stubs.variables.GetVariable(
        variables_pb2.GetVariableRequest(name=owned.variable)
    )
    assert json.loads(variable.variable.value_json) == "the owner's"
    await stubs.work.GetWorkPool(work_pb2.GetWorkPoolRequest(name=owned.pool))
    await stubs.limits.GetConcurrencyLimit(
        concurrency_pb2.GetConcurrencyLimitRequest(name=owned.limit)
    )


def _cancel(run_id: str) -> flow_runs_pb2.SetFlowRunStateRequest:
    return flow_runs_pb2.SetFlowRunStateRequest(
        flow_run_id=run_id,
        state=states_pb2.State(type=states_pb2.STATE_TYPE_CANCELLING),
        transition_id=str(uuid.uuid4()),
    )


async def test_a_read_key_reads_but_cannot_cancel_overwrite_or_delete(
    guarded: RunplaneServer,
) -> None:
    async with _channel(guarded, "admin") as admin_channel, _channel(guarded, "read") as reader:
        owned = await _create_owned(Stubs(admin_channel))
        read = Stubs(reader)
        await _assert_untouched(read, owned)
        overwrite = deployments_pb2.Deployment()
        overwrite.CopyFrom(owned.deployment)
        overwrite.entrypoint = "evil.py:main"
        messages = [
            await _denied(read.runs.SetFlowRunState(_cancel(owned.run.id))),
            await _denied(
                read.deployments.CreateDeployment(
                    deployments_pb2.CreateDeploymentRequest(deployment=overwrite)
                )
            ),
            await _denied(
                read.variables.SetVariable(
                    variables_pb2.SetVariableRequest(
                        name=owned.variable,
                        value_json='"x"',
                        overwrite=True,
                    )
                )
            ),
            await _denied(
                read.runs.DeleteFlowRun(
                    flow_runs_pb2.DeleteFlowRunRequest(flow_run_id=owned.run.id)
                )
            ),
            await _denied(
                read.deployments.DeleteDeployment(
                    deployments_pb2.DeleteDeploymentRequest(deployment_id=owned.deployment.id)
                )
            ),
        ]
        await _assert_untouched(read, owned)
    assert messages == [
        "SetFlowRunState needs the worker role; this key has read",
        "CreateDeployment needs the worker role; this key has read",
        "SetVariable needs the worker role; this key has read",
        "DeleteFlowRun needs the admin role; this key has read",
        "DeleteDeployment needs the admin role; this key has read",
    ]


async def test_a_worker_key_cannot_delete_or_change_what_operators_own(
    guarded: RunplaneServer,
) -> None:
    async with _channel(guarded, "admin") as admin_channel, _channel(guarded, "worker") as w:
        owned = await _create_owned(Stubs(admin_channel))
        worker = Stubs(w)
        paused = deployments_pb2.Deployment(id=owned.deployment.id, paused=True)
        pause = deployments_pb2.UpdateDeploymentRequest(deployment=paused)
        pause.update_mask.paths.append("paused")
        messages = [
            await _denied(
                worker.deployments.DeleteDeployment(
                    deployments_pb2.DeleteDeploymentRequest(deployment_id=owned.deployment.id)
                )
            ),
            await _denied(worker.deployments.UpdateDeployment(pause)),
            await _denied(
                worker.work.DeleteWorkPool(work_pb2.DeleteWorkPoolRequest(name=owned.pool))
            ),
            await _denied(
                worker.limits.DeleteConcurrencyLimit(
                    concurrency_pb2.DeleteConcurrencyLimitRequest(name=owned.limit)
                )
            ),
            await _denied(
                worker.variables.DeleteVariable(
                    variables_pb2.DeleteVariableRequest(name=owned.variable)
                )
            ),
            await _denied(
                worker.runs.DeleteFlowRun(
                    flow_runs_pb2.DeleteFlowRunRequest(flow_run_id=owned.run.id)
                )
            ),
        ]
        await _assert_untouched(worker, owned)
        # What a worker is for still works: cancelling a run is a state proposal.
        answer = await worker.runs.SetFlowRunState(_cancel(owned.run.id))
        assert answer.result.status == states_pb2.ORCHESTRATION_STATUS_ACCEPT
    assert messages == [
        "DeleteDeployment needs the admin role; this key has worker",
        "UpdateDeployment needs the admin role; this key has worker",
        "DeleteWorkPool needs the admin role; this key has worker",
        "DeleteConcurrencyLimit needs the admin role; this key has worker",
        "DeleteVariable needs the admin role; this key has worker",
        "DeleteFlowRun needs the admin role; this key has worker",
    ]


@pytest.mark.parametrize("role", ["admin", ""], ids=["admin", "no-role"])
async def test_an_admin_key_and_a_key_without_a_role_may_delete(
    guarded: RunplaneServer, role: str
) -> None:
    async with _channel(guarded, role) as channel:
        stubs = Stubs(channel)
        owned = await _create_owned(stubs)
        await stubs.deployments.DeleteDeployment(
            deployments_pb2.DeleteDeploymentRequest(deployment_id=owned.deployment.id)
        )
        await stubs.limits.DeleteConcurrencyLimit(
            concurrency_pb2.DeleteConcurrencyLimitRequest(name=owned.limit)
        )
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await stubs.deployments.GetDeployment(
                deployments_pb2.GetDeploymentRequest(deployment_id=owned.deployment.id)
            )
        assert gone.value.code() is grpc.StatusCode.NOT_FOUND


async def test_the_sdk_raises_permission_denied_with_the_reason(
    guarded: RunplaneServer, tmp_path: Path
) -> None:
    settings = Settings(api_url=guarded.address, home=tmp_path, api_key=SecretStr(KEYS["read"]))
    async with RunplaneClient(settings) as client:
        with pytest.raises(PermissionDenied) as denied:
            await client.create_flow("not-for-readers")
    assert denied.value.reason == "ROLE_REQUIRED"
    assert str(denied.value) == "CreateFlow needs the worker role; this key has read"
    assert KEYS["read"] not in repr(denied.value)


async def test_the_cli_says_which_role_is_needed_on_one_line(
    guarded: RunplaneServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _channel(guarded, "admin") as channel:
        owned = await _create_owned(Stubs(channel))
    monkeypatch.setenv("RUNPLANE_API_KEY", KEYS["read"])
    code, output = await invoke(guarded, "flow-run", "cancel", owned.run.id)
    assert code == 1
    assert output == "error: SetFlowRunState needs the worker role; this key has read\n"
