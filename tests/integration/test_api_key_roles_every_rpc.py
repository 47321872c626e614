"""Every RPC of the contract, called with a key of each role: a role the method's entry in
the table allows gets past the key check (the empty request may then be refused for what it
holds), any other is refused with PERMISSION_DENIED naming the role needed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_support import contract_methods, status_detail
from pydantic import SecretStr

from runplane._client.channel import authorization_interceptors
from runplane.server import RunplaneServer, ServerSettings, create_server
from runplane.server.api.method_roles import REQUIRED_ROLES
from runplane.server.api_keys import Role
from runplane.v1 import flow_runs_pb2, logs_pb2

pytestmark = pytest.mark.anyio

KEYS = {role: f"{role.label}-k3y" for role in Role}
REFLECTION_INFO = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

# Streams would stay open on a valid request; these are refused at once for what they hold.
STREAM_REQUESTS: dict[str, Message] = {
    "/runplane.v1.FlowRunService/WatchFlowRuns": flow_runs_pb2.WatchFlowRunsRequest(
        filter=flow_runs_pb2.FlowRunFilter(flow_run_ids=["not-a-uuid"])
    ),
    "/runplane.v1.LogService/FollowLogs": logs_pb2.FollowLogsRequest(
        filter=logs_pb2.LogFilter(flow_run_id="not-a-uuid")
    ),
}


@pytest.fixture
async def guarded(server_settings: ServerSettings) -> AsyncIterator[RunplaneServer]:
    written = [SecretStr(f"{role.label}:{key}") for role, key in KEYS.items()]
    settings = server_settings.model_copy(update={"api_keys": written, "loops_enabled": False})
    async with await create_server(settings) as running:
        yield running


async def _call(channel: grpc.aio.Channel, name: str, method: MethodDescriptor) -> None:
    """Sends ``name`` a request of its type and reads the answer, or the first item."""
    request_type = message_factory.GetMessageClass(method.input_type)
    response_type = message_factory.GetMessageClass(method.output_type)
    request = STREAM_REQUESTS.get(name) or request_type()
    kind = {"request_serializer": request_type.SerializeToString}
    kind["response_deserializer"] = response_type.FromString
    if method.server_streaming:
        stream = channel.unary_stream(name, **kind)(request, timeout=30)
        await stream.read()
        stream.cancel()
    else:
        await channel.unary_unary(name, **kind)(request, timeout=30)


async def _reflect(channel: grpc.aio.Channel) -> None:
    """Lists the services through reflection, as grpcurl does first."""
    call = channel.stream_stream(
        REFLECTION_INFO,
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=30)
    await call.read()
    call.cancel()


def _reason(error: grpc.aio.AioRpcError) -> str:
    try:
        return status_detail(error, error_details_pb2.ErrorInfo).reason
    except AssertionError:
        return "no ErrorInfo"


async def _verdict(channel: grpc.aio.Channel, name: str, method: MethodDescriptor | None) -> str:
    """``past the key check``, or the refusal as ``CODE: message (REASON)``."""
    try:
        await (_reflect(channel) if method is None else _call(channel, name, method))
    except grpc.aio.AioRpcError as error:
        if error.code() not in (
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.UNIMPLEMENTED,
        ):
            return "past the key check"
        return f"{error.code().name}: {error.details()} ({_reason(error)})"
    return "past the key check"


@pytest.mark.parametrize("role", list(Role), ids=[role.label for role in Role])
async def test_every_rpc_answers_each_role_as_its_table_entry_says(
    guarded: RunplaneServer, role: Role
) -> None:
    methods: dict[str, MethodDescriptor | None] = {**contract_methods(), REFLECTION_INFO: None}
    interceptors = authorization_interceptors(KEYS[role])
    async with grpc.aio.insecure_channel(guarded.address, interceptors=interceptors) as channel:
        verdicts = {name: await _verdict(channel, name, m) for name, m in methods.items()}
    expected = {}
    for name in methods:
        needed = REQUIRED_ROLES[name]
        short = name.rpartition("/")[2]
        expected[name] = (
            "past the key check"
            if role >= needed
            else f"PERMISSION_DENIED: {short} needs the {needed.label} role; "
            f"this key has {role.label} (ROLE_REQUIRED)"
        )
    assert verdicts == expected
