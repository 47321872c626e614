"""What the delivery, scheduler and reaper tests share: a settable clock, a server with the
slow sweep and the loops off, and small stubs calls."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from runplane.server import RunplaneServer, ServerSettings, create_server
from runplane.v1 import (
    deployments_pb2,
    deployments_pb2_grpc,
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    states_pb2,
    work_pb2,
    work_pb2_grpc,
)


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.value = datetime.now(UTC)

    def now(self) -> datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += timedelta(seconds=seconds)


def quiet(settings: ServerSettings, **changes: Any) -> ServerSettings:
    """The settings with no sweep and no loops: only events wake delivery."""
    values: dict[str, Any] = {"work_sweep_interval": 3600.0, "loops_enabled": False, **changes}
    return settings.model_copy(update=values)


@asynccontextmanager
async def serving(
    settings: ServerSettings, clock: ManualClock | None = None
) -> AsyncIterator[tuple[RunplaneServer, grpc.aio.Channel]]:
    async with (
        await create_server(settings, clock=clock) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        yield server, channel


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def subscribe(
    channel: grpc.aio.Channel, pool: str, slots: int, runner: str = ""
) -> tuple[Any, work_pb2.SubscriptionStarted]:
    stream = work_pb2_grpc.WorkServiceStub(channel).SubscribeWork(
        work_pb2.SubscribeWorkRequest(
            work_pool_name=pool, runner_name=runner or unique("runner"), free_slots=slots
        )
    )
    first = await stream.read()
    return stream, first.started


async def next_item(stream: Any, within: float = 30.0) -> work_pb2.SubscribeWorkResponse:
    """The next item that is not a ping; ``within`` bounds the wait for one that should come,
    generously, since a loaded machine may take seconds to deliver it."""
    async with asyncio.timeout(within):
        while True:
            item: work_pb2.SubscribeWorkResponse = await stream.read()
            if item.WhichOneof("item") != "ping":
                return item


async def create_deployment(
    channel: grpc.aio.Channel,
    pool: str,
    schedules: list[deployments_pb2.DeploymentSchedule] | None = None,
    **fields: Any,
) -> deployments_pb2.Deployment:
    stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
    deployment = deployments_pb2.Deployment(
        name=unique("deployment"),
        flow_name=unique("flow"),
        entrypoint="flows.py:main",
        work_pool_name=pool,
        schedules=schedules or [],
        **fields,
    )
    response = await stub.CreateDeployment(
        deployments_pb2.CreateDeploymentRequest(deployment=deployment)
    )
    return response.deployment


async def run_deployment(
    channel: grpc.aio.Channel, deployment_id: str, at: datetime | None = None
) -> flow_runs_pb2.FlowRun:
    request = deployments_pb2.RunDeploymentRequest(deployment_id=deployment_id)
    if at is not None:
        request.scheduled_start_time.FromDatetime(at)
    stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
    return (await stub.RunDeployment(request)).flow_run


async def propose(
    channel: grpc.aio.Channel,
    run_id: str,
    state_type: int,
    lease_id: str = "",
    force: bool = False,
    *,
    name: str = "",
    message: str = "",
    transition_id: str = "",
) -> states_pb2.OrchestrationResult:
    """Proposes a state as any client would; a new transition id unless one is given."""
    stub = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    response = await stub.SetFlowRunState(
        flow_runs_pb2.SetFlowRunStateRequest(
            flow_run_id=run_id,
            state=states_pb2.State(type=state_type, name=name, message=message),  # type: ignore[arg-type]
            lease_id=lease_id,
            force=force,
            transition_id=transition_id or str(uuid.uuid4()),
        )
    )
    return response.result


async def history(channel: grpc.aio.Channel, run_id: str) -> list[states_pb2.State]:
    """The run's states, oldest first."""
    stub = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    request = flow_runs_pb2.ListFlowRunStatesRequest(flow_run_id=run_id, page_size=200)
    return list((await stub.ListFlowRunStates(request)).states)


async def get_run(channel: grpc.aio.Channel, run_id: str) -> flow_runs_pb2.FlowRun:
    stub = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    return (await stub.GetFlowRun(flow_runs_pb2.GetFlowRunRequest(flow_run_id=run_id))).flow_run
