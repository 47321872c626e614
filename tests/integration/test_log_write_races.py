"""WriteLogs racing a delete of its flow run: the logs are stored or NOT_FOUND, never INTERNAL.

WriteLogs checks that its runs exist and then waits for the run's log lock before inserting;
a delete that commits in that gap must not turn the insert into a foreign key violation. The
test holds the log lock itself to open the gap on purpose (PostgreSQL only: SQLite runs one
writer at a time, so there is no gap).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import grpc
import psycopg
import pytest
from sqlalchemy.engine import make_url
from test_logs import new_flow_run, record

from runplane.server import RunplaneServer
from runplane.server.db.logs import _LOG_LOCK_CLASS, _lock_key
from runplane.v1 import flow_runs_pb2, flow_runs_pb2_grpc, logs_pb2, logs_pb2_grpc

pytestmark = pytest.mark.anyio

WAITERS = "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = %s"


async def _waiting(conn: psycopg.AsyncConnection[tuple[int]], locktype: str) -> bool:
    cursor = await conn.execute(WAITERS, (locktype,))
    row = await cursor.fetchone()
    return bool(row and row[0])


async def _until(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    async with asyncio.timeout(within):
        # Lock waits in the database's other sessions signal no event here, so they are polled.
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_a_run_deleted_while_its_logs_wait_is_never_internal(
    server: RunplaneServer, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time")
    run_id = await new_flow_run(server)
    libpq = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    key = _lock_key(uuid.UUID(run_id))
    async with (
        await psycopg.AsyncConnection.connect(libpq, autocommit=True) as holder,
        await psycopg.AsyncConnection.connect(libpq, autocommit=True) as watcher,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        await holder.execute("SELECT pg_advisory_lock(%s, %s)", (_LOG_LOCK_CLASS, key))
        logs = logs_pb2_grpc.LogServiceStub(channel)
        write = asyncio.ensure_future(
            logs.WriteLogs(logs_pb2.WriteLogsRequest(records=[record(run_id, "kept")]))
        )
        await _until(lambda: _waiting(watcher, "advisory"))
        runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        delete = asyncio.ensure_future(
            runs.DeleteFlowRun(flow_runs_pb2.DeleteFlowRunRequest(flow_run_id=run_id))
        )

        async def delete_finished_or_waits() -> bool:
            # Without a lock on the run the delete finishes; with one it waits for the write.
            return delete.done() or await _waiting(watcher, "transactionid")

        await _until(delete_finished_or_waits)
        await holder.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOG_LOCK_CLASS, key))
        written = await asyncio.gather(write, return_exceptions=True)
        await delete
    (outcome,) = written
    if isinstance(outcome, grpc.aio.AioRpcError):
        assert outcome.code() is grpc.StatusCode.NOT_FOUND, outcome.details()
    else:
        assert isinstance(outcome, logs_pb2.WriteLogsResponse), outcome
        assert outcome.written_count == 1
