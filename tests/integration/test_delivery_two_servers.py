"""Two servers on one database: each run goes to exactly one subscriber of either.

Server A's subscriber has few slots, so most runs created through A can only reach the
subscribers of server B. On PostgreSQL, B hears of them through NOTIFY (the sweep is off);
SQLite has no such channel between processes, so there a short sweep is what finds them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import grpc
import pytest
from delivery_support import (
    ManualClock,
    create_deployment,
    get_run,
    next_item,
    propose,
    quiet,
    run_deployment,
    subscribe,
    unique,
)

from runplane.server import ServerSettings, create_server
from runplane.v1 import states_pb2, work_pb2, work_pb2_grpc

pytestmark = pytest.mark.anyio

TOTAL = 60
SMALL = 5


def _settings(server_settings: ServerSettings) -> ServerSettings:
    if (server_settings.database_url or "").startswith("sqlite"):
        return quiet(server_settings, work_sweep_interval=0.2)
    return quiet(server_settings)


async def _collect(
    stream: Any, index: int, received: list[tuple[int, str]], everything: asyncio.Event
) -> None:
    """Records ``(subscriber, run id)`` for each assignment until all runs arrived."""
    while True:
        item = await next_item(stream)
        received.append((index, item.assignment.flow_run.id))
        if len(received) >= TOTAL:
            everything.set()


async def test_two_servers_deliver_each_run_once(server_settings: ServerSettings) -> None:
    settings = _settings(server_settings)
    pool = unique("pool")
    async with (
        await create_server(settings) as first,
        await create_server(settings) as second,
        grpc.aio.insecure_channel(first.address) as on_first,
        grpc.aio.insecure_channel(second.address) as on_second,
    ):
        deployment = await create_deployment(on_first, pool)
        small, _ = await subscribe(on_first, pool, slots=SMALL)
        large = [(await subscribe(on_second, pool, slots=TOTAL))[0] for _ in range(2)]
        streams = [small, *large]
        received: list[tuple[int, str]] = []
        everything = asyncio.Event()
        readers = [
            asyncio.create_task(_collect(stream, i, received, everything))
            for i, stream in enumerate(streams)
        ]
        created: dict[str, list[str]] = {"first": [], "second": []}
        for i in range(TOTAL):
            channel, name = (on_first, "first") if i % 2 == 0 else (on_second, "second")
            created[name].append((await run_deployment(channel, deployment.id)).id)
        try:
            async with asyncio.timeout(30):
                await everything.wait()
        finally:
            for reader in readers:
                reader.cancel()
            for stream in streams:
                stream.cancel()
    counts = Counter(run_id for _, run_id in received)
    assert sorted(counts) == sorted(created["first"] + created["second"])
    assert max(counts.values()) == 1
    assert sum(1 for index, _ in received if index == 0) <= SMALL
    taken_by_second = {run_id for index, run_id in received if index > 0}
    assert len(taken_by_second & set(created["first"])) >= len(created["first"]) - SMALL


async def test_a_runner_on_another_server_counts_for_the_late_message(
    server_settings: ServerSettings,
) -> None:
    """A runner subscribed to the first server, with no free slot: the second server's late
    marker says the runners are busy, not that there are none."""
    if not (server_settings.database_url or "").startswith("postgresql"):
        pytest.skip("only PostgreSQL carries announcements between server processes")
    clock = ManualClock()
    settings = quiet(server_settings)
    pool = unique("pool")
    async with (
        await create_server(settings, clock=clock) as first,
        await create_server(settings, clock=clock) as second,
        grpc.aio.insecure_channel(first.address) as on_first,
        grpc.aio.insecure_channel(second.address) as on_second,
    ):
        deployment = await create_deployment(on_first, pool)
        assert not second.context.background.dispatcher.has_runner(pool)
        stream, _ = await subscribe(on_first, pool, slots=1)
        # The runner's one slot goes to a first run, so the next one waits.
        await run_deployment(on_first, deployment.id)
        await next_item(stream)
        run = await run_deployment(on_second, deployment.id)
        # The announcement travels through NOTIFY: wait for it, within a deadline.
        for _ in range(500):
            if second.context.background.dispatcher.has_runner(pool):
                break
            await asyncio.sleep(0.01)
        clock.advance(settings.late_after + 1)
        await second.context.background.late_marker.run_once()
        late = await get_run(on_second, run.id)
        stream.cancel()
    assert late.state.name == "Late"
    assert "have no free slot" in late.state.message


async def test_a_run_ending_on_another_server_makes_room_under_a_pool_limit(
    server_settings: ServerSettings,
) -> None:
    """The pool allows one run at a time; the runner is on the first server and the run
    ends through the second, which tells the first (the sweep is off)."""
    if not (server_settings.database_url or "").startswith("postgresql"):
        pytest.skip("only PostgreSQL carries notifications between server processes")
    settings = quiet(server_settings)
    async with (
        await create_server(settings) as first,
        await create_server(settings) as second,
        grpc.aio.insecure_channel(first.address) as on_first,
        grpc.aio.insecure_channel(second.address) as on_second,
    ):
        pool = work_pb2.WorkPool(name=unique("pool"), concurrency_limit=1)
        await work_pb2_grpc.WorkServiceStub(on_first).CreateWorkPool(
            work_pb2.CreateWorkPoolRequest(work_pool=pool)
        )
        deployment = await create_deployment(on_first, pool.name)
        runs = [(await run_deployment(on_first, deployment.id)).id for _ in range(2)]
        stream, _ = await subscribe(on_first, pool.name, slots=2)
        held = (await next_item(stream)).assignment
        # The first server announces its limited pool through NOTIFY: wait, within a deadline.
        for _ in range(500):
            if second.context.background.dispatcher.limits_elsewhere():
                break
            await asyncio.sleep(0.01)
        assert second.context.background.dispatcher.limits_elsewhere()
        running = states_pb2.STATE_TYPE_RUNNING
        await propose(on_second, held.flow_run.id, running, lease_id=held.lease_id)
        completed = states_pb2.STATE_TYPE_COMPLETED
        await propose(on_second, held.flow_run.id, completed, lease_id=held.lease_id)
        following = (await next_item(stream)).assignment
        stream.cancel()
    assert sorted([held.flow_run.id, following.flow_run.id]) == sorted(runs)


async def test_the_runtimes_of_a_runner_on_another_server_count_for_the_late_message(
    server_settings: ServerSettings,
) -> None:
    """A Python runner subscribed to the first server: the second server's late marker says
    that no runner of a Node run's runtime is subscribed."""
    if not (server_settings.database_url or "").startswith("postgresql"):
        pytest.skip("only PostgreSQL carries announcements between server processes")
    clock = ManualClock()
    settings = quiet(server_settings)
    pool = unique("pool")
    async with (
        await create_server(settings, clock=clock) as first,
        await create_server(settings, clock=clock) as second,
        grpc.aio.insecure_channel(first.address) as on_first,
        grpc.aio.insecure_channel(second.address) as on_second,
    ):
        deployment = await create_deployment(on_second, pool, runtime="node")
        stream, _ = await subscribe(on_first, pool, slots=1)
        run = await run_deployment(on_second, deployment.id)
        dispatcher = second.context.background.dispatcher
        # The announcement travels through NOTIFY: wait for it, within a deadline.
        for _ in range(500):
            if dispatcher.has_runner(pool):
                break
            await asyncio.sleep(0.01)
        assert dispatcher.has_runner(pool, "python")
        assert not dispatcher.has_runner(pool, "node")
        clock.advance(settings.late_after + 1)
        await second.context.background.late_marker.run_once()
        late = await get_run(on_second, run.id)
        stream.cancel()
    assert late.state.name == "Late"
    assert f"no runner of runtime 'node' is subscribed to work pool {pool!r}" in late.state.message
