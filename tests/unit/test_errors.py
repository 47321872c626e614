"""gRPC failures reach users as SDK exceptions, rich status details included.

A real ``grpc.aio`` server on a free loopback port answers GetFlow according to the
requested name; the client's channel, retry policy and error mapping do the rest.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import anyio
import grpc
import pytest
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from pydantic import SecretStr

from runplane import (
    Aborted,
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionViolation,
    RunplaneClient,
    RunplaneError,
    ServerError,
    Settings,
    SyncRunplaneClient,
    Unauthenticated,
    Unavailable,
)
from runplane.v1 import flows_pb2

pytestmark = pytest.mark.anyio

FLOW_ID = "0b7a2d4e-5f7c-4f0e-9a43-3c9b1d2e8f10"


@dataclass
class FakeFlowService:
    """Fails GetFlow with the status named by ``request.name``; "ok" succeeds."""

    port: int = 0
    attempts: Counter[str] = field(default_factory=Counter)
    authorization: list[str | None] = field(default_factory=list)

    async def get_flow(
        self, request: flows_pb2.GetFlowRequest, context: grpc.aio.ServicerContext[Message, Message]
    ) -> flows_pb2.GetFlowResponse:
        self.attempts[request.name] += 1
        metadata = dict(context.invocation_metadata() or ())
        self.authorization.append(metadata.get("authorization"))  # type: ignore[arg-type]
        if request.name == "ok":
            return flows_pb2.GetFlowResponse(flow=flows_pb2.Flow(id=FLOW_ID, name="ok"))
        if request.name == "slow":
            await asyncio.Event().wait()
        code, message, details = SCENARIOS[request.name]
        status = status_pb2.Status(code=code.value[0], message=message)
        for detail in details:
            status.details.add().Pack(detail)
        await context.abort_with_status(rpc_status.to_status(status))
        raise AssertionError("abort_with_status returned")


SCENARIOS: dict[str, tuple[grpc.StatusCode, str, list[Message]]] = {
    "invalid": (
        grpc.StatusCode.INVALID_ARGUMENT,
        "name is too long",
        [
            error_details_pb2.ErrorInfo(
                reason="INVALID_NAME", domain="runplane", metadata={"max_length": "256"}
            ),
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field="name", description="at most 256 characters"
                    ),
                    error_details_pb2.BadRequest.FieldViolation(
                        field="tags[0]", description="must not be empty"
                    ),
                ]
            ),
        ],
    ),
    "stale": (
        grpc.StatusCode.FAILED_PRECONDITION,
        "the lease is stale",
        [
            error_details_pb2.ErrorInfo(reason="STALE_LEASE", domain="runplane"),
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type="LEASE", subject="lease/1", description="expired"
                    )
                ]
            ),
        ],
    ),
    "unavailable": (
        grpc.StatusCode.UNAVAILABLE,
        "shutting down",
        [error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2))],
    ),
    "missing": (grpc.StatusCode.NOT_FOUND, "flow not found", []),
    "exists": (grpc.StatusCode.ALREADY_EXISTS, "flow exists", []),
    "raced": (grpc.StatusCode.ABORTED, "concurrent update", []),
    "anonymous": (grpc.StatusCode.UNAUTHENTICATED, "no key", []),
    "forbidden": (grpc.StatusCode.PERMISSION_DENIED, "not allowed", []),
    "bug": (grpc.StatusCode.INTERNAL, "oops", []),
    "unimplemented": (grpc.StatusCode.UNIMPLEMENTED, "no such method", []),
}


@pytest.fixture
async def service() -> AsyncIterator[FakeFlowService]:
    fake = FakeFlowService()
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


def settings_for(service: FakeFlowService, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "api_url": f"127.0.0.1:{service.port}",
        "api_key": None,
        "request_timeout": 10.0,
        "tls_ca_file": None,
        "tls_cert_file": None,
        "tls_key_file": None,
    }
    return Settings.model_validate(values | overrides)


async def fail(service: FakeFlowService, name: str, **overrides: object) -> RunplaneError:
    async with RunplaneClient(settings_for(service, **overrides)) as client:
        with pytest.raises(RunplaneError) as caught:
            await client.get_flow_by_name(name)
    return caught.value


@pytest.mark.parametrize(
    ("name", "error_type"),
    [
        ("missing", NotFound),
        ("exists", AlreadyExists),
        ("raced", Aborted),
        ("forbidden", PermissionDenied),
        ("bug", ServerError),
        ("unimplemented", ServerError),
    ],
)
async def test_status_codes_map_to_sdk_errors(
    service: FakeFlowService, name: str, error_type: type[RunplaneError]
) -> None:
    error = await fail(service, name)
    code, message, _ = SCENARIOS[name]
    assert type(error) is error_type
    assert error.code is code
    assert error.message == message
    assert str(error) == message
    assert error.reason is None


async def test_an_unauthenticated_call_names_the_server_and_the_key_variable(
    service: FakeFlowService,
) -> None:
    error = await fail(service, "anonymous")
    assert type(error) is Unauthenticated
    assert error.code is grpc.StatusCode.UNAUTHENTICATED
    assert str(error).startswith("the server at 127.0.0.1:")
    assert str(error).endswith(
        " requires an API key: set RUNPLANE_API_KEY (the server said: no key)"
    )


async def test_bad_request_details_name_the_fields(service: FakeFlowService) -> None:
    error = await fail(service, "invalid")
    assert isinstance(error, InvalidArgument)
    assert error.field == "name"
    assert error.violations == (
        FieldViolation(field="name", description="at most 256 characters"),
        FieldViolation(field="tags[0]", description="must not be empty"),
    )
    assert error.reason == "INVALID_NAME"
    assert error.metadata == {"max_length": "256"}


async def test_precondition_failures_are_kept(service: FakeFlowService) -> None:
    error = await fail(service, "stale")
    assert isinstance(error, FailedPrecondition)
    assert error.reason == "STALE_LEASE"
    assert error.violations == (
        PreconditionViolation(type="LEASE", subject="lease/1", description="expired"),
    )


async def test_unavailable_is_retried_by_the_channel_then_raised(
    service: FakeFlowService,
) -> None:
    error = await fail(service, "unavailable")
    assert isinstance(error, Unavailable)
    assert error.retry_delay == timedelta(seconds=2)
    assert service.attempts["unavailable"] == 5
    assert service.attempts["missing"] == 0


async def test_deadline_comes_from_settings(service: FakeFlowService) -> None:
    with anyio.fail_after(5):
        error = await fail(service, "slow", request_timeout=0.2)
    assert isinstance(error, DeadlineExceeded)
    assert service.attempts["slow"] == 1


async def test_api_key_travels_as_bearer_metadata(service: FakeFlowService) -> None:
    async with RunplaneClient(settings_for(service, api_key=SecretStr("s3cret"))) as client:
        flow = await client.get_flow_by_name("ok")
    async with RunplaneClient(settings_for(service)) as client:
        await client.get_flow_by_name("ok")
    assert str(flow.id) == FLOW_ID
    assert service.authorization == ["Bearer s3cret", None]


async def test_sync_client_raises_the_same_errors(service: FakeFlowService) -> None:
    def call() -> str:
        with SyncRunplaneClient(settings_for(service)) as client:
            with pytest.raises(NotFound, match="flow not found"):
                client.get_flow_by_name("missing")
            return client.get_flow_by_name("ok").name

    assert await anyio.to_thread.run_sync(call) == "ok"


async def test_calls_before_opening_say_how_to_open() -> None:
    client = RunplaneClient(Settings(api_url="127.0.0.1:1"))
    with pytest.raises(RuntimeError, match="async with"):
        await client.get_flow_by_name("x")
    with pytest.raises(RuntimeError, match="with SyncRunplaneClient"):
        SyncRunplaneClient(Settings(api_url="127.0.0.1:1")).get_flow_by_name("x")
