"""The blocking client makes unary calls in the calling thread, with the API key and errors
of the async client.

A real ``grpc.aio`` server on a free loopback port answers GetFlow: the flow when the
request carries the expected bearer token, NOT_FOUND otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from uuid import UUID

import anyio
import grpc
import pytest
from google.protobuf.message import Message

from runplane import NotFound, Settings, SyncRunplaneClient
from runplane.v1 import flows_pb2

pytestmark = pytest.mark.anyio

FLOW_ID = UUID(int=7)
API_KEY = "secret-key"


@dataclass
class FakeFlows:
    port: int = 0
    authorizations: list[str] = field(default_factory=list)

    async def get_flow(
        self, request: flows_pb2.GetFlowRequest, context: grpc.aio.ServicerContext[Message, Message]
    ) -> flows_pb2.GetFlowResponse:
        metadata = dict(context.invocation_metadata() or ())
        self.authorizations.append(str(metadata.get("authorization", "")))
        if request.flow_id != str(FLOW_ID):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"flow {request.flow_id} not found")
        return flows_pb2.GetFlowResponse(flow=flows_pb2.Flow(id=request.flow_id, name="etl"))


@pytest.fixture
async def flows() -> AsyncIterator[FakeFlows]:
    fake = FakeFlows()
    handler = grpc.method_handlers_generic_handler(
        "runplane.v1.FlowService",
        {
            "GetFlow": grpc.unary_unary_rpc_method_handler(
                fake.get_flow,
                request_deserializer=flows_pb2.GetFlowRequest.FromString,
                response_serializer=flows_pb2.GetFlowResponse.SerializeToString,
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


def _call(fake: FakeFlows, flow_id: UUID) -> tuple[str | None, BaseException | None]:
    """Calls get_flow from a worker thread, the server's loop staying free to answer."""
    settings = Settings(api_url=f"127.0.0.1:{fake.port}", api_key=API_KEY, request_timeout=5)
    try:
        with SyncRunplaneClient(settings) as client:
            return client.get_flow(flow_id).name, None
    except NotFound as error:
        return None, error


async def test_a_blocking_call_sends_the_api_key(flows: FakeFlows) -> None:
    name, error = await anyio.to_thread.run_sync(lambda: _call(flows, FLOW_ID))
    assert error is None
    assert name == "etl"
    assert flows.authorizations == [f"Bearer {API_KEY}"]


async def test_a_blocking_call_raises_the_mapped_error(flows: FakeFlows) -> None:
    name, error = await anyio.to_thread.run_sync(lambda: _call(flows, UUID(int=8)))
    assert name is None
    assert isinstance(error, NotFound)
    assert "not found" in str(error)
