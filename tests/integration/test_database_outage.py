"""A database that drops the server's connections: calls are answered UNAVAILABLE with a
retry hint, never INTERNAL, and succeed again once the database is back."""

from __future__ import annotations

import asyncio
import uuid

import anyio
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status
from postgres_support import drop_connections

from runplane import ArtifactType, get_client
from runplane._client.channel import SERVICE_CONFIG
from runplane.server import RunplaneServer, ServerSettings, create_server
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


async def test_the_client_retries_every_service_through_an_outage(
    server_settings: ServerSettings, private_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not private_database_url.startswith("postgresql"):
        pytest.skip("only a PostgreSQL server can drop the connections of a running server")
    settings = server_settings.model_copy(
        update={"database_url": private_database_url, "loops_enabled": False}
    )
    async with await create_server(settings) as server:
        monkeypatch.setenv("RUNPLANE_API_URL", server.address)
        async with get_client() as client:
            await client.create_flow("warm-up")  # leaves a pooled connection to drop
            # One call of each kind after its connections were dropped under it: the first
            # attempt is answered UNAVAILABLE, and the client's retry must hide that.
            drop_connections(private_database_url)
            stored = await client.set_variable("batch_size", 500)
            drop_connections(private_database_url)
            read = await client.get_variable("batch_size")
            drop_connections(private_database_url)
            artifact = await client.create_artifact(ArtifactType.MARKDOWN, "# report")
            drop_connections(private_database_url)
            listed = await client.list_artifacts()
    assert (stored.value, read.value) == (500, 500)
    assert artifact.id in [item.id for item in listed.items]


async def test_the_client_retries_every_service_the_server_serves(server: RunplaneServer) -> None:
    def reflected() -> tuple[str, ...]:
        with grpc.insecure_channel(server.address) as channel:
            return tuple(ProtoReflectionDescriptorDatabase(channel).get_services())

    # A blocking client, in a thread: the server answers on this test's event loop.
    services = await anyio.to_thread.run_sync(reflected)
    served = {name for name in services if name.startswith("runplane.")}
    retried = {name["service"] for name in SERVICE_CONFIG["methodConfig"][0]["name"]}
    assert served
    assert retried == served
