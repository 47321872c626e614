"""A database that drops the server's connections: calls are answered UNAVAILABLE with a
retry hint, never INTERNAL, and succeed again once the database is back."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from postgres_support import drop_connections

from runplane import get_client
from runplane.server import ServerSettings, create_server
from runplane.v1 import flows_pb2, flows_pb2_grpc

pytestmark = pytest.mark.anyio


async def test_dropped_connections_answer_unavailable_then_recover(
    server_settings: ServerSettings, private_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not private_database_url.startswith("postgresql"):
        pytest.skip("only a PostgreSQL server can drop the connections of a running server")
    settings = server_settings.model_copy(
        update={"database_url": private_database_url, "loops_enabled": False}
    )
    async with await create_server(settings) as server:
        # No retries on this channel: each call shows what the server answered.
        options = [("grpc.enable_retries", 0)]
        async with grpc.aio.insecure_channel(server.address, options=options) as channel:
            flows = flows_pb2_grpc.FlowServiceStub(channel)
            # Several calls at once leave several pooled connections to be dropped.
            await asyncio.gather(
                *(
                    flows.CreateFlow(flows_pb2.CreateFlowRequest(name=f"before-{i}"))
                    for i in range(4)
                )
            )
            assert drop_connections(private_database_url) >= 1
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await flows.ListFlows(flows_pb2.ListFlowsRequest())
            after = await flows.ListFlows(flows_pb2.ListFlowsRequest())
        # The SDK's client retries UNAVAILABLE by itself: a caller sees no error at all.
        drop_connections(private_database_url)
        monkeypatch.setenv("RUNPLANE_API_URL", server.address)
        async with get_client() as client:
            created = await client.create_flow("after")
    error = raised.value
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "database is unavailable" in (error.details() or "")
    status = rpc_status.from_call(error)
    assert status is not None
    hints = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    assert len(hints) == 1
    assert sorted(flow.name for flow in after.flows) == [f"before-{i}" for i in range(4)]
    assert created.name == "after"


async def test_every_connection_busy_past_the_pool_timeout_answers_unavailable(
    server_settings: ServerSettings,
) -> None:
    """An overloaded database pool is a condition to retry, not a bug (INTERNAL)."""
    settings = server_settings.model_copy(
        update={
            "database_pool_size": 1,
            "database_pool_overflow": 0,
            "database_pool_timeout": 0.2,
            "loops_enabled": False,
        }
    )
    async with await create_server(settings) as server:
        options = [("grpc.enable_retries", 0)]
        async with grpc.aio.insecure_channel(server.address, options=options) as channel:
            flows = flows_pb2_grpc.FlowServiceStub(channel)
            async with server.context.database.engine.connect() as held:
                await held.exec_driver_sql("SELECT 1")  # the pool's one connection, taken
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await flows.ListFlows(flows_pb2.ListFlowsRequest())
            name = f"after-{uuid.uuid4().hex[:8]}"
            created = await flows.CreateFlow(flows_pb2.CreateFlowRequest(name=name))
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "database is unavailable" in (raised.value.details() or "")
    assert created.flow.name == name  # the connection back in the pool serves again
