"""WriteLogs is safe to retry: a batch id is applied once, whoever sends it again."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
import sqlalchemy as sa
from grpc_support import bad_field
from test_logs import list_all, new_flow_run, record

from runplane.server import RunplaneServer
from runplane.server.db.tables import log_batch
from runplane.v1 import (
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    logs_pb2,
    logs_pb2_grpc,
    task_runs_pb2,
    task_runs_pb2_grpc,
)

pytestmark = pytest.mark.anyio


async def test_the_same_batch_twice_is_stored_once(server: RunplaneServer) -> None:
    run_id = await new_flow_run(server)
    lines = [record(run_id, f"line {n}") for n in range(3)]
    batch = logs_pb2.WriteLogsRequest(records=lines, batch_id=str(uuid.uuid4()))
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = logs_pb2_grpc.LogServiceStub(channel)
        first = await stub.WriteLogs(batch)
        again = await stub.WriteLogs(batch)
        # Two retries at once: still one copy.
        racing = await asyncio.gather(stub.WriteLogs(batch), stub.WriteLogs(batch))
        stored = await list_all(stub, logs_pb2.LogFilter(flow_run_id=run_id))
    assert first.written_count == again.written_count == 3
    assert [answer.written_count for answer in racing] == [3, 3]
    assert [r.message for r in stored] == ["line 0", "line 1", "line 2"]


async def test_a_batch_of_a_task_run_of_its_own_twice_is_stored_once(
    server: RunplaneServer,
) -> None:
    """Lines of a task run with no flow run (a task called outside any flow, or a background
    run) are applied once too, however often the batch is retried."""
    async with grpc.aio.insecure_channel(server.address) as channel:
        tasks = task_runs_pb2_grpc.TaskRunServiceStub(channel)
        spec = task_runs_pb2.TaskRunSpec(task_key=f"own-{uuid.uuid4()}")
        created = await tasks.CreateTaskRun(task_runs_pb2.CreateTaskRunRequest(spec=spec))
        task_run_id = created.task_run.id
        lines = [
            logs_pb2.LogRecord(task_run_id=task_run_id, level=20, logger_name="t", message=f"{n}")
            for n in range(2)
        ]
        batch = logs_pb2.WriteLogsRequest(records=lines, batch_id=str(uuid.uuid4()))
        stub = logs_pb2_grpc.LogServiceStub(channel)
        first = await stub.WriteLogs(batch)
        again = await stub.WriteLogs(batch)
        racing = await asyncio.gather(stub.WriteLogs(batch), stub.WriteLogs(batch))
        stored = await list_all(stub, logs_pb2.LogFilter(task_run_id=task_run_id))
    assert first.written_count == again.written_count == 2
    assert [answer.written_count for answer in racing] == [2, 2]
    assert [r.message for r in stored] == ["0", "1"]


async def test_other_batch_ids_and_no_batch_id_are_each_stored(server: RunplaneServer) -> None:
    run_id = await new_flow_run(server)
    line = [record(run_id, "same text")]
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = logs_pb2_grpc.LogServiceStub(channel)
        for batch_id in (str(uuid.uuid4()), str(uuid.uuid4()), "", ""):
            await stub.WriteLogs(logs_pb2.WriteLogsRequest(records=line, batch_id=batch_id))
        stored = await list_all(stub, logs_pb2.LogFilter(flow_run_id=run_id))
    assert len(stored) == 4


async def test_one_batch_id_is_per_run(server: RunplaneServer) -> None:
    """A client that reuses an id for another run's batch does not lose that batch."""
    first, second = await new_flow_run(server), await new_flow_run(server)
    batch_id = str(uuid.uuid4())
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = logs_pb2_grpc.LogServiceStub(channel)
        for run_id in (first, second):
            request = logs_pb2.WriteLogsRequest(records=[record(run_id, "x")], batch_id=batch_id)
            assert (await stub.WriteLogs(request)).written_count == 1
        stored = await list_all(stub, logs_pb2.LogFilter(flow_run_id=second))
    assert len(stored) == 1


async def test_a_batch_id_must_be_a_uuid(server: RunplaneServer) -> None:
    run_id = await new_flow_run(server)
    request = logs_pb2.WriteLogsRequest(records=[record(run_id, "x")], batch_id="batch-1")
    async with grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await logs_pb2_grpc.LogServiceStub(channel).WriteLogs(request)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert bad_field(caught.value) == "batch_id"


async def test_a_deleted_run_takes_its_batch_ids_along(server: RunplaneServer) -> None:
    run_id = await new_flow_run(server)
    request = logs_pb2.WriteLogsRequest(records=[record(run_id, "x")], batch_id=str(uuid.uuid4()))
    async with grpc.aio.insecure_channel(server.address) as channel:
        await logs_pb2_grpc.LogServiceStub(channel).WriteLogs(request)
        runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        await runs.DeleteFlowRun(flow_runs_pb2.DeleteFlowRunRequest(flow_run_id=run_id))
    async with server.context.database.read() as conn:
        left = await conn.execute(
            sa.select(sa.func.count()).where(log_batch.c.flow_run_id == uuid.UUID(run_id))
        )
        assert left.scalar_one() == 0
