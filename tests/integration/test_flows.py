"""FlowService through a real server."""

from __future__ import annotations

import uuid

import grpc
import pytest

from runplane.server import RunplaneServer
from runplane.v1 import flows_pb2, flows_pb2_grpc

pytestmark = pytest.mark.anyio


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_create_flow_is_create_or_get(server: RunplaneServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = flows_pb2_grpc.FlowServiceStub(channel)
        name = unique("etl")
        first = await stub.CreateFlow(flows_pb2.CreateFlowRequest(name=name, tags=["a"]))
        again = await stub.CreateFlow(flows_pb2.CreateFlowRequest(name=name))
        assert first.created
        assert not again.created
        assert again.flow.id == first.flow.id
        assert list(again.flow.tags) == ["a"]
        by_name = await stub.GetFlow(flows_pb2.GetFlowRequest(name=name))
        assert by_name.flow.id == first.flow.id
