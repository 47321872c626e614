"""LogService through a real server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import timestamp_pb2

from runplane.server import RunplaneServer, ServerSettings, create_server
from runplane.v1 import (
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2,
    flows_pb2_grpc,
    logs_pb2,
    logs_pb2_grpc,
)

pytestmark = pytest.mark.anyio

MIB = 1_048_576


async def new_flow_run(server: RunplaneServer) -> str:
    async with grpc.aio.insecure_channel(server.address) as channel:
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        created = await flows.CreateFlow(
            flows_pb2.CreateFlowRequest(name=f"logs-{uuid.uuid4().hex[:8]}")
        )
        runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        run = await runs.CreateFlowRun(flow_runs_pb2.CreateFlowRunRequest(flow_id=created.flow.id))
    return run.flow_run.id


def record(run_id: str, message: str, level: int = 20, **fields: object) -> logs_pb2.LogRecord:
    return logs_pb2.LogRecord(
        flow_run_id=run_id,
        level=level,
        logger_name="runplane.test",
        message=message,
        **fields,  # type: ignore[arg-type]
    )


async def write(stub: logs_pb2_grpc.LogServiceStub, records: Sequence[logs_pb2.LogRecord]) -> None:
    response = await stub.WriteLogs(logs_pb2.WriteLogsRequest(records=records))
    assert response.written_count == len(records)


async def list_all(
    stub: logs_pb2_grpc.LogServiceStub, log_filter: logs_pb2.LogFilter, page_size: int = 0
) -> list[logs_pb2.LogRecord]:
    records: list[logs_pb2.LogRecord] = []
    token = ""
    while True:
        page = await stub.ListLogs(
            logs_pb2.ListLogsRequest(filter=log_filter, page_size=page_size, page_token=token)
        )
        records.extend(page.records)
        token = page.next_page_token
        if not token:
            return records


async def expect_error(call: object, code: grpc.StatusCode, text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code
    assert text in (caught.value.details() or "")


async def test_write_then_list_oldest_first_in_pages(server: RunplaneServer) -> None:
    run_id = await new_flow_run(server)
    given = timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=5000)
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = logs_pb2_grpc.LogServiceStub(channel)
        before = datetime.now(UTC)
        await write(stub, [record(run_id, f"line {i}") for i in range(4)])
        await write(stub, [record(run_id, "line 4", timestamp=given)])
        await write(stub, [record(run_id, f"line {i}") for i in range(5, 7)])
        after = datetime.now(UTC)

        first = await stub.ListLogs(
            logs_pb2.ListLogsRequest(filter=logs_pb2.LogFilter(flow_run_id=run_id), page_size=3)
        )
        assert [r.message for r in first.records] == ["line 0", "line 1", "line 2"]
        assert first.next_page_token
        paged = await list_all(stub, logs_pb2.LogFilter(flow_run_id=run_id), page_size=3)

    assert [r.message for r in paged] == [f"line {i}" for i in range(7)]
    ids = [int(r.id) for r in paged]
    assert ids == sorted(ids)
    assert len(set(ids)) == 7
    assert {r.flow_run_id for r in paged} == {run_id}
    assert all(r.task_run_id == "" and r.level == 20 for r in paged)
    assert paged[4].timestamp == given
    defaulted = paged[0].timestamp.ToDatetime(tzinfo=UTC)
    assert before <= defaulted <= after


async def test_list_filters_by_run_task_and_level(server: RunplaneServer) -> None:
    run_id, other_run = await new_flow_run(server), await new_flow_run(server)
    task_id = str(uuid.uuid4())
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = logs_pb2_grpc.LogServiceStub(channel)
        await write(
            stub,
            [
                record(run_id, "flow debug", level=10),
                record(run_id, "task info", level=20, task_run_id=task_id),
                record(other_run, "other run", level=40),
                record(run_id, "task error", level=40, task_run_id=task_id),
                record(run_id, "flow warning", level=30),
            ],
        )
        of_run = await list_all(stub, logs_pb2.LogFilter(flow_run_id=run_id))
        of_task = await list_all(stub, logs_pb2.LogFilter(task_run_id=task_id))
        warnings = await list_all(stub, logs_pb2.LogFilter(flow_run_id=run_id, min_level=30))
        task_errors = await list_all(
            stub, logs_pb2.LogFilter(flow_run_id=run_id, task_run_id=task_id, min_level=40)
        )
    assert [r.message for r in of_run] == ["flow debug", "task info", "task error", "flow warning"]
    assert [r.message for r in of_task] == ["task info", "task error"]
    assert {r.task_run_id for r in of_task} == {task_id}
    assert [r.message for r in warnings] == ["task error", "flow warning"]
    assert [r.message for r in task_errors] == ["task error"]


async def test_an_oversized_message_is_truncated_with_a_note(server: RunplaneServer) -> None:
    run_id = await new_flow_run(server)
    # Two-byte characters, so that the cut has to fall on a character boundary.
    message = "é" * (750 * 1024)
    original_bytes = len(message.encode())
    assert original_bytes == 1_536_000
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = logs_pb2_grpc.LogServiceStub(channel)
        await write(stub, [record(run_id, message), record(run_id, "small")])
        stored = await list_all(stub, logs_pb2.LogFilter(flow_run_id=run_id))
    assert [r.message for r in stored][1] == "small"
    kept, _, note = stored[0].message.rpartition("... [truncated ")
    assert set(kept) == {"é"}
    dropped = original_bytes - len(kept.encode())
    assert note == f"{dropped} bytes]"
    assert MIB - 64 < len(stored[0].message.encode()) <= MIB


async def test_write_logs_refuses_bad_records(server: RunplaneServer) -> None:
    run_id = await new_flow_run(server)
    missing_run = str(uuid.uuid4())
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = logs_pb2_grpc.LogServiceStub(channel)

        def request(*records: logs_pb2.LogRecord) -> logs_pb2.WriteLogsRequest:
            return logs_pb2.WriteLogsRequest(records=records)

        invalid = grpc.StatusCode.INVALID_ARGUMENT
        good = record(run_id, "ok")
        await expect_error(
            stub.WriteLogs(request(good, record("nope", "x"))), invalid, "records[1].flow_run_id"
        )
        await expect_error(stub.WriteLogs(request(record("", "x"))), invalid, "flow_run_id")
        await expect_error(
            stub.WriteLogs(request(good, record(run_id, "x", task_run_id="12"))),
            invalid,
            "records[1].task_run_id",
        )
        for level in (-1, 101):
            await expect_error(
                stub.WriteLogs(request(record(run_id, "x", level=level))),
                invalid,
                "records[0].level",
            )
        long_logger = logs_pb2.LogRecord(flow_run_id=run_id, logger_name="l" * 257)
        await expect_error(stub.WriteLogs(request(long_logger)), invalid, "logger_name")
        bad_time = record(run_id, "x", timestamp=timestamp_pb2.Timestamp(seconds=-(10**12)))
        await expect_error(stub.WriteLogs(request(bad_time)), invalid, "records[0].timestamp")
        too_many = [record(run_id, "x")] * 10_001
        await expect_error(stub.WriteLogs(request(*too_many)), invalid, "records")
        await expect_error(
            stub.WriteLogs(request(good, record(missing_run, "x"))),
            grpc.StatusCode.NOT_FOUND,
            f"flow run {missing_run}",
        )
        # A refused batch stores nothing, not even its valid records.
        assert await list_all(stub, logs_pb2.LogFilter(flow_run_id=run_id)) == []
        empty = await stub.WriteLogs(logs_pb2.WriteLogsRequest())
        assert empty.written_count == 0


async def test_list_logs_refuses_bad_requests(server: RunplaneServer) -> None:
    run_id = await new_flow_run(server)
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = logs_pb2_grpc.LogServiceStub(channel)
        await write(stub, [record(run_id, f"line {i}") for i in range(3)])
        invalid = grpc.StatusCode.INVALID_ARGUMENT

        def listing(**fields: object) -> logs_pb2.ListLogsRequest:
            return logs_pb2.ListLogsRequest(**fields)  # type: ignore[arg-type]

        for log_filter, field in [
            (logs_pb2.LogFilter(flow_run_id="x"), "filter.flow_run_id"),
            (logs_pb2.LogFilter(task_run_id="x"), "filter.task_run_id"),
            (logs_pb2.LogFilter(min_level=-1), "filter.min_level"),
            (logs_pb2.LogFilter(min_level=101), "filter.min_level"),
        ]:
            await expect_error(stub.ListLogs(listing(filter=log_filter)), invalid, field)
        await expect_error(stub.ListLogs(listing(page_size=-1)), invalid, "page_size")
        await expect_error(stub.ListLogs(listing(page_token="garbage!")), invalid, "page_token")
        run_filter = logs_pb2.LogFilter(flow_run_id=run_id)
        page = await stub.ListLogs(listing(filter=run_filter, page_size=1))
        await expect_error(
            stub.ListLogs(listing(filter=logs_pb2.LogFilter(), page_token=page.next_page_token)),
            invalid,
            "page_token",
        )
        following = await stub.ListLogs(
            listing(filter=run_filter, page_size=1, page_token=page.next_page_token)
        )
        assert [r.message for r in following.records] == ["line 1"]
        unknown_run = await stub.ListLogs(
            listing(filter=logs_pb2.LogFilter(flow_run_id=str(uuid.uuid4())))
        )
        assert list(unknown_run.records) == []
        assert unknown_run.next_page_token == ""


async def next_record(call: object) -> logs_pb2.LogRecord:
    response = await asyncio.wait_for(call.read(), timeout=5)  # type: ignore[attr-defined]
    assert isinstance(response, logs_pb2.FollowLogsResponse)
    return response.record


async def test_follow_sends_stored_then_live_records(server: RunplaneServer) -> None:
    run_id, other_run = await new_flow_run(server), await new_flow_run(server)
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = logs_pb2_grpc.LogServiceStub(channel)
        await write(stub, [record(run_id, f"stored {i}") for i in range(3)])
        call = stub.FollowLogs(
            logs_pb2.FollowLogsRequest(filter=logs_pb2.LogFilter(flow_run_id=run_id))
        )
        seen = [await next_record(call) for _ in range(3)]
        await write(stub, [record(other_run, "elsewhere"), record(run_id, "live 0")])
        await write(stub, [record(run_id, "live 1"), record(run_id, "live 2")])
        seen += [await next_record(call) for _ in range(3)]
        call.cancel()
    assert [r.message for r in seen] == [f"stored {i}" for i in range(3)] + [
        f"live {i}" for i in range(3)
    ]
    ids = [int(r.id) for r in seen]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {r.flow_run_id for r in seen} == {run_id}


async def test_follow_has_no_gap_or_duplicate_while_writes_go_on(server: RunplaneServer) -> None:
    run_id = await new_flow_run(server)
    batches, per_batch = 20, 5
    expected = {f"{w}-{b}-{i}" for w in "ab" for b in range(batches) for i in range(per_batch)}
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = logs_pb2_grpc.LogServiceStub(channel)

        async def writer(name: str) -> None:
            for b in range(batches):
                await write(stub, [record(run_id, f"{name}-{b}-{i}") for i in range(per_batch)])

        await write(stub, [record(run_id, "first")])
        # Two writers of one run at once, and the follow starting in the middle of them.
        writing = [asyncio.create_task(writer(name)) for name in "ab"]
        call = stub.FollowLogs(
            logs_pb2.FollowLogsRequest(filter=logs_pb2.LogFilter(flow_run_id=run_id))
        )
        seen = [await next_record(call) for _ in range(len(expected) + 1)]
        await asyncio.gather(*writing)
        await write(stub, [record(run_id, "last")])
        seen.append(await next_record(call))
        call.cancel()
    messages = [r.message for r in seen]
    assert messages[0] == "first"
    assert messages[-1] == "last"
    assert sorted(messages[1:-1]) == sorted(expected)
    for name in "ab":
        assert [m for m in messages if m.startswith(name)] == [
            f"{name}-{b}-{i}" for b in range(batches) for i in range(per_batch)
        ]
    ids = [int(r.id) for r in seen]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


async def test_follow_filters_by_task_and_level(server: RunplaneServer) -> None:
    run_id = await new_flow_run(server)
    task_id = str(uuid.uuid4())
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = logs_pb2_grpc.LogServiceStub(channel)
        await write(stub, [record(run_id, "task warn", 30, task_run_id=task_id)])
        call = stub.FollowLogs(
            logs_pb2.FollowLogsRequest(
                filter=logs_pb2.LogFilter(flow_run_id=run_id, task_run_id=task_id, min_level=30)
            )
        )
        seen = [await next_record(call)]
        await write(
            stub,
            [
                record(run_id, "flow error", 40),
                record(run_id, "task info", 20, task_run_id=task_id),
                record(run_id, "task error", 40, task_run_id=task_id),
            ],
        )
        seen.append(await next_record(call))
        call.cancel()
    assert [r.message for r in seen] == ["task warn", "task error"]


async def test_follow_refuses_bad_filters(server: RunplaneServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = logs_pb2_grpc.LogServiceStub(channel)
        for log_filter, code, text in [
            (logs_pb2.LogFilter(), grpc.StatusCode.INVALID_ARGUMENT, "filter.flow_run_id"),
            (
                logs_pb2.LogFilter(flow_run_id="bad"),
                grpc.StatusCode.INVALID_ARGUMENT,
                "filter.flow_run_id",
            ),
            (
                logs_pb2.LogFilter(flow_run_id=str(uuid.uuid4()), min_level=500),
                grpc.StatusCode.INVALID_ARGUMENT,
                "filter.min_level",
            ),
            (
                logs_pb2.LogFilter(flow_run_id=str(uuid.uuid4())),
                grpc.StatusCode.NOT_FOUND,
                "flow run",
            ),
        ]:
            call = stub.FollowLogs(logs_pb2.FollowLogsRequest(filter=log_filter))
            await expect_error(next_record(call), code, text)


async def test_follow_ends_when_the_server_stops(server_settings: ServerSettings) -> None:
    running = await create_server(server_settings)
    await running.start()
    try:
        run_id = await new_flow_run(running)
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = logs_pb2_grpc.LogServiceStub(channel)
            await write(stub, [record(run_id, "before stop")])
            call = stub.FollowLogs(
                logs_pb2.FollowLogsRequest(filter=logs_pb2.LogFilter(flow_run_id=run_id))
            )
            assert (await next_record(call)).message == "before stop"
            await running.stop(grace=5)
            end = await asyncio.wait_for(call.read(), timeout=5)
            assert end is grpc.aio.EOF
            assert await call.code() == grpc.StatusCode.OK
    finally:
        await running.stop(grace=0)
