"""Two servers on one database: a watch or a log follow on one sees what goes through the other.

On PostgreSQL the servers tell each other through NOTIFY; on one SQLite file (as several
processes on one embedded home) each notices the other's commits within about a second.
Every wait has a deadline of several seconds: the streams are read, never slept on.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from delivery_support import create_deployment, next_item, propose, quiet, subscribe, unique
from postgres_support import notify

from runplane import Settings, arun_deployment
from runplane._client.states import StateType
from runplane.server import RunplaneServer, ServerSettings, create_server
from runplane.server.db.delivery_dialects import CHANNEL
from runplane.server.streams.sqlite_changes import POLL_INTERVAL, SqliteChanges
from runplane.v1 import (
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2,
    flows_pb2_grpc,
    logs_pb2,
    logs_pb2_grpc,
    states_pb2,
)

pytestmark = pytest.mark.anyio

WITHIN = 15.0
"""Seconds a change made through one server may take to reach a stream on the other."""


def is_sqlite(settings: ServerSettings) -> bool:
    return (settings.database_url or "").startswith("sqlite")


@asynccontextmanager
async def two_servers(
    settings: ServerSettings, **changes: Any
) -> AsyncIterator[tuple[RunplaneServer, grpc.aio.Channel, RunplaneServer, grpc.aio.Channel]]:
    async with (
        await create_server(quiet(settings, **changes)) as first,
        await create_server(quiet(settings, **changes)) as second,
        grpc.aio.insecure_channel(first.address) as on_first,
        grpc.aio.insecure_channel(second.address) as on_second,
    ):
        yield first, on_first, second, on_second


async def new_flow_run(channel: grpc.aio.Channel) -> str:
    flows = flows_pb2_grpc.FlowServiceStub(channel)
    created = await flows.CreateFlow(flows_pb2.CreateFlowRequest(name=unique("streams")))
    runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    run = await runs.CreateFlowRun(flow_runs_pb2.CreateFlowRunRequest(flow_id=created.flow.id))
    return run.flow_run.id


async def watch(channel: grpc.aio.Channel, run_id: str) -> grpc.aio.UnaryStreamCall:  # type: ignore[type-arg]
    """A watch of the run, once it has sent the run's current state (so it is open)."""
    stub = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    request = flow_runs_pb2.WatchFlowRunsRequest(
        filter=flow_runs_pb2.FlowRunFilter(flow_run_ids=[run_id]), include_current=True
    )
    call = stub.WatchFlowRuns(request)
    assert await next_state_type(call) == states_pb2.STATE_TYPE_PENDING
    return call


async def next_state_type(call: grpc.aio.UnaryStreamCall) -> int:  # type: ignore[type-arg]
    async with asyncio.timeout(WITHIN):
        response = await call.read()
    assert isinstance(response, flow_runs_pb2.WatchFlowRunsResponse)
    return response.state.type


async def test_a_watch_sees_states_written_through_another_server(
    server_settings: ServerSettings,
) -> None:
    async with two_servers(server_settings) as (_, on_first, _, on_second):
        run_id = await new_flow_run(on_second)
        call = await watch(on_first, run_id)
        running = await propose(on_second, run_id, states_pb2.STATE_TYPE_RUNNING)
        assert running.state.type == states_pb2.STATE_TYPE_RUNNING
        assert await next_state_type(call) == states_pb2.STATE_TYPE_RUNNING
        await propose(on_second, run_id, states_pb2.STATE_TYPE_COMPLETED)
        assert await next_state_type(call) == states_pb2.STATE_TYPE_COMPLETED
        call.cancel()


async def test_a_watch_sees_each_state_once_in_order(server_settings: ServerSettings) -> None:
    """States written through both servers reach a watch on one of them once each, oldest
    first."""
    async with two_servers(server_settings) as (_, on_first, _, on_second):
        run_id = await new_flow_run(on_first)
        call = await watch(on_first, run_id)
        await propose(on_second, run_id, states_pb2.STATE_TYPE_RUNNING)
        assert await next_state_type(call) == states_pb2.STATE_TYPE_RUNNING
        await propose(on_first, run_id, states_pb2.STATE_TYPE_PAUSED)
        assert await next_state_type(call) == states_pb2.STATE_TYPE_PAUSED
        await propose(on_second, run_id, states_pb2.STATE_TYPE_RUNNING)
        await propose(on_second, run_id, states_pb2.STATE_TYPE_COMPLETED)
        seen = [await next_state_type(call)]
        while seen[-1] != states_pb2.STATE_TYPE_COMPLETED:
            seen.append(await next_state_type(call))
        # Both were written through the other server, one after the other: the newer one
        # may hide the older, but never comes before it, and nothing comes twice.
        assert seen in (
            [states_pb2.STATE_TYPE_RUNNING, states_pb2.STATE_TYPE_COMPLETED],
            [states_pb2.STATE_TYPE_COMPLETED],
        )
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.5):
                await call.read()  # no duplicate follows
        call.cancel()


async def test_a_watch_is_still_served_after_notifications_it_cannot_read(
    server_settings: ServerSettings,
) -> None:
    """During a rolling upgrade a server hears notices of a newer version, and anything else
    may NOTIFY on the channel: each is ignored, and the streams go on."""
    if is_sqlite(server_settings):
        pytest.skip("only PostgreSQL carries notifications between server processes")
    async with two_servers(server_settings) as (_, on_first, _, on_second):
        run_id = await new_flow_run(on_second)
        call = await watch(on_first, run_id)
        unknown_state = str(uuid.uuid4())
        newer = {"v": 1, "sender": "newer"}
        notices = [
            {**newer, "v": 2, "kind": "states", "ids": [unknown_state]},
            {**newer, "kind": "teleport"},
            {**newer, "kind": "states", "state_ids": [7]},
            {**newer, "kind": "states", "state_ids": [unknown_state]},
            {**newer, "kind": "cancelling"},
        ]
        garbage = ["[]", "{not json", "s older not-an-id", "garbage \u00e9\u20ac", ""]
        url = server_settings.database_url or ""
        await notify(url, CHANNEL, [json.dumps(n) for n in notices] + garbage)
        # Sent after those: heard after them, by a listener that is still listening.
        await propose(on_second, run_id, states_pb2.STATE_TYPE_RUNNING)
        assert await next_state_type(call) == states_pb2.STATE_TYPE_RUNNING
        # And the server itself still answers.
        assert await new_flow_run(on_first)
        call.cancel()


async def test_a_log_follow_sees_lines_written_through_another_server(
    server_settings: ServerSettings,
) -> None:
    async with two_servers(server_settings) as (_, on_first, _, on_second):
        run_id = await new_flow_run(on_second)
        writer = logs_pb2_grpc.LogServiceStub(on_second)
        stored = logs_pb2.LogRecord(flow_run_id=run_id, level=20, logger_name="t", message="stored")
        await writer.WriteLogs(logs_pb2.WriteLogsRequest(records=[stored]))
        follow = logs_pb2_grpc.LogServiceStub(on_first).FollowLogs(
            logs_pb2.FollowLogsRequest(filter=logs_pb2.LogFilter(flow_run_id=run_id))
        )
        seen: list[logs_pb2.LogRecord] = []
        async with asyncio.timeout(WITHIN):
            seen.append((await follow.read()).record)  # the stored line: the follow is open
        for batch in range(3):
            records = [
                logs_pb2.LogRecord(
                    flow_run_id=run_id, level=20, logger_name="t", message=f"line {batch}.{i}"
                )
                for i in range(2)
            ]
            await writer.WriteLogs(logs_pb2.WriteLogsRequest(records=records))
        async with asyncio.timeout(WITHIN):
            while len(seen) < 7:
                response = await follow.read()
                assert isinstance(response, logs_pb2.FollowLogsResponse)
                seen.append(response.record)
        follow.cancel()
    expected = ["stored"] + [f"line {b}.{i}" for b in range(3) for i in range(2)]
    assert [r.message for r in seen] == expected
    assert [int(r.id) for r in seen] == sorted({int(r.id) for r in seen})


async def test_run_deployment_returns_when_the_run_completes_through_another_server(
    server_settings: ServerSettings,
) -> None:
    """The run is created through A, and a runner subscribed to B gets it and finishes it."""
    # B hears of runs created through A by NOTIFY on PostgreSQL, by its sweep on SQLite.
    sweep = {"work_sweep_interval": 0.2} if is_sqlite(server_settings) else {}
    async with two_servers(server_settings, **sweep) as (first, on_first, _, on_second):
        pool = unique("pool")
        deployment = await create_deployment(on_first, pool)
        runner, _ = await subscribe(on_second, pool, slots=1)
        waiter = asyncio.create_task(
            arun_deployment(
                uuid.UUID(deployment.id), timeout=None, settings=Settings(api_url=first.address)
            )
        )
        assignment = (await next_item(runner, within=WITHIN)).assignment
        run_id, lease_id = assignment.flow_run.id, assignment.lease_id
        await propose(on_second, run_id, states_pb2.STATE_TYPE_RUNNING, lease_id=lease_id)
        await propose(on_second, run_id, states_pb2.STATE_TYPE_COMPLETED, lease_id=lease_id)
        async with asyncio.timeout(WITHIN):
            finished = await waiter
        runner.cancel()
    assert str(finished.id) == run_id
    assert finished.state is not None
    assert finished.state.type is StateType.COMPLETED


async def test_sqlite_polls_only_while_anyone_watches(tmp_path: Path) -> None:
    settings = ServerSettings(
        home=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'one.db'}", port=0
    )
    async with (
        await create_server(quiet(settings)) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        changes = server.context.background.streams
        assert isinstance(changes, SqliteChanges)
        run_id = await new_flow_run(channel)
        assert not changes.polling
        call = await watch(channel, run_id)
        assert changes.polling
        call.cancel()
        async with asyncio.timeout(WITHIN):
            # It stops at its next look, within half a second; nothing here to wait on.
            while changes.polling:  # noqa: ASYNC110
                await asyncio.sleep(POLL_INTERVAL / 5)
