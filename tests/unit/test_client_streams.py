"""Server-streaming calls become iterators of models that cancel the call when closed.

A real ``grpc.aio`` server on a free loopback port streams WatchFlowRuns: two changes,
then either an error or silence until the client goes away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from uuid import UUID

import anyio
import grpc
import pytest
from google.protobuf.message import Message

from runplane import (
    FlowRunFilter,
    NotFound,
    RunplaneClient,
    Settings,
    StateType,
    SyncRunplaneClient,
)
from runplane.v1 import flow_runs_pb2, states_pb2

pytestmark = pytest.mark.anyio

FLOW_ID = UUID(int=1)


@dataclass
class FakeWatch:
    """Streams two RUNNING changes; with tag "fail", then aborts with NOT_FOUND."""

    port: int = 0
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[flow_runs_pb2.WatchFlowRunsRequest] = field(default_factory=list)

    async def watch(
        self,
        request: flow_runs_pb2.WatchFlowRunsRequest,
        context: grpc.aio.ServicerContext[Message, Message],
    ) -> AsyncIterator[flow_runs_pb2.WatchFlowRunsResponse]:
        self.requests.append(request)
        for number in (1, 2):
            yield flow_runs_pb2.WatchFlowRunsResponse(
                flow_run=flow_runs_pb2.FlowRun(
                    id=str(UUID(int=number)), name=f"run-{number}", flow_id=str(FLOW_ID)
                ),
                state=states_pb2.State(type=states_pb2.STATE_TYPE_RUNNING, name="Running"),
            )
        if "fail" in request.filter.tags:
            await context.abort(grpc.StatusCode.NOT_FOUND, "flow vanished")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@pytest.fixture
async def watch() -> AsyncIterator[FakeWatch]:
    fake = FakeWatch()
    handler = grpc.method_handlers_generic_handler(
        "runplane.v1.FlowRunService",
        {
            "WatchFlowRuns": grpc.unary_stream_rpc_method_handler(
                fake.watch,
                request_deserializer=flow_runs_pb2.WatchFlowRunsRequest.FromString,
                response_serializer=flow_runs_pb2.WatchFlowRunsResponse.SerializeToString,
            )
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    fake.port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield fake
    finally:
        await server.stop(None)


def settings_for(fake: FakeWatch) -> Settings:
    return Settings(api_url=f"127.0.0.1:{fake.port}", api_key=None, request_timeout=0.5)


async def test_async_stream_yields_models_and_closing_cancels_the_call(watch: FakeWatch) -> None:
    names = []
    async with RunplaneClient(settings_for(watch)) as client:
        stream = client.watch_flow_runs(FlowRunFilter(flow_ids=(FLOW_ID,)), include_current=True)
        async with aclosing(stream):
            async for change in stream:
                assert change.state.type is StateType.RUNNING
                names.append(change.flow_run.name)
                if len(names) == 2:
                    break
        with anyio.fail_after(5):
            await watch.cancelled.wait()
    assert names == ["run-1", "run-2"]
    assert watch.requests[0].include_current
    assert list(watch.requests[0].filter.flow_ids) == [str(FLOW_ID)]


async def test_stream_errors_map_to_sdk_errors(watch: FakeWatch) -> None:
    received: list[UUID] = []

    async def drain(client: RunplaneClient) -> None:
        async for change in client.watch_flow_runs(FlowRunFilter(tags=("fail",))):
            received.append(change.flow_run.id)

    async with RunplaneClient(settings_for(watch)) as client:
        with pytest.raises(NotFound, match="flow vanished"):
            await drain(client)
    assert received == [UUID(int=1), UUID(int=2)]


async def test_sync_stream_is_a_closable_iterator(watch: FakeWatch) -> None:
    def consume() -> list[str]:
        with SyncRunplaneClient(settings_for(watch)) as client:
            changes = client.watch_flow_runs()
            names = [next(changes).flow_run.name, next(changes).flow_run.name]
            changes.close()
            return names

    assert await anyio.to_thread.run_sync(consume) == ["run-1", "run-2"]
    with anyio.fail_after(5):
        await watch.cancelled.wait()


async def test_sync_stream_raises_sdk_errors(watch: FakeWatch) -> None:
    received: list[str] = []

    def consume() -> None:
        with SyncRunplaneClient(settings_for(watch)) as client:
            for change in client.watch_flow_runs(FlowRunFilter(tags=("fail",))):
                received.append(change.flow_run.name)

    with pytest.raises(NotFound, match="flow vanished"):
        await anyio.to_thread.run_sync(consume)
    assert received == ["run-1", "run-2"]
