"""Whatever a client sends, the server answers with a precise code and keeps serving."""

from __future__ import annotations

import json
import logging

import grpc
import pytest
from google.protobuf.message import Message
from grpc_support import invalid_argument_details

from runplane.server import RunplaneServer
from runplane.v1 import flow_runs_pb2, flow_runs_pb2_grpc, flows_pb2, flows_pb2_grpc, states_pb2

pytestmark = pytest.mark.anyio


async def _still_serving(channel: grpc.aio.Channel) -> None:
    flows = flows_pb2_grpc.FlowServiceStub(channel)
    answer = await flows.ListFlows(flows_pb2.ListFlowsRequest(page_size=1))
    assert answer is not None


async def test_bytes_that_are_not_the_message_are_invalid_argument(
    server: RunplaneServer,
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = channel.unary_unary("/runplane.v1.FlowService/CreateFlow")
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call(b"\xff\xff\xff\xff not protobuf")
        assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "request" in (error.value.details() or "")
        await _still_serving(channel)


async def test_a_message_over_16_mib_is_refused_and_nothing_breaks(
    server: RunplaneServer,
) -> None:
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(server.address, options=options) as channel:
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        flow = (await flows.CreateFlow(flows_pb2.CreateFlowRequest(name="big-input"))).flow
        parameters = json.dumps({"blob": "x" * (17 * 1024 * 1024)})
        runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await runs.CreateFlowRun(
                flow_runs_pb2.CreateFlowRunRequest(flow_id=flow.id, parameters_json=parameters)
            )
        assert error.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        listed = await runs.ListFlowRuns(
            flow_runs_pb2.ListFlowRunsRequest(
                filter=flow_runs_pb2.FlowRunFilter(flow_ids=[flow.id])
            )
        )
        assert list(listed.flow_runs) == []


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (flow_runs_pb2.GetFlowRunRequest(flow_run_id="not-a-uuid"), "flow_run_id"),
        (flow_runs_pb2.ListFlowRunsRequest(page_size=-1), "page_size"),
        (flow_runs_pb2.ListFlowRunsRequest(page_token="garbage!"), "page_token"),
        (
            flow_runs_pb2.SetFlowRunStateRequest(
                flow_run_id="6f1f7f0e-0000-4000-8000-000000000000",
                state=states_pb2.State(type=42),  # type: ignore[arg-type]
            ),
            "state.type",
        ),
        (
            flow_runs_pb2.SetFlowRunStateRequest(
                flow_run_id="6f1f7f0e-0000-4000-8000-000000000000",
                state=states_pb2.State(
                    type=states_pb2.STATE_TYPE_COMPLETED,
                    result=states_pb2.ResultRef(
                        serializer="json", inline_value_json='{"x": [1, Infinity]}'
                    ),
                ),
            ),
            "state.result.inline_value.x[1]",
        ),
        (
            flow_runs_pb2.SetFlowRunStateRequest(
                flow_run_id="6f1f7f0e-0000-4000-8000-000000000000",
                state=states_pb2.State(
                    type=states_pb2.STATE_TYPE_COMPLETED,
                    result=states_pb2.ResultRef(
                        serializer="json",
                        inline_value_json=json.dumps("x" * (64 * 1024 + 1)),
                    ),
                ),
            ),
            "state.result.inline_value_json",
        ),
    ],
)
async def test_invalid_fields_are_named(
    server: RunplaneServer, request_message: Message, field: str
) -> None:
    stub = flow_runs_pb2_grpc.FlowRunServiceStub
    assert field in await invalid_argument_details(server.address, stub, request_message)
    async with grpc.aio.insecure_channel(server.address) as channel:
        await _still_serving(channel)


async def _send_garbage(channel: grpc.aio.Channel, method: str) -> None:
    garbage = b"\xff\xff\xff\xff not protobuf"
    if method.endswith("/ServerReflectionInfo"):
        await channel.stream_stream(method)(iter([garbage])).read()
    elif method.endswith("/Watch"):
        await channel.unary_stream(method)(garbage).read()
    else:
        await channel.unary_unary(method)(garbage)


@pytest.mark.parametrize(
    "method",
    [
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ],
)
async def test_garbage_sent_to_health_or_reflection_is_invalid_argument_and_not_logged(
    server: RunplaneServer, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        for _ in range(20):
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await _send_garbage(channel, method)
            assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        await _still_serving(channel)
    # Health needs no API key: garbage from anyone must not fill the server's log.
    assert [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []
