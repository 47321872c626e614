"""``runplane work-pool`` and ``runplane work-queue`` against a real server."""

from __future__ import annotations

import uuid

import pytest
from cli_support import invoke

from runplane import RunplaneClient, Settings, WorkPool, WorkQueue
from runplane.server import RunplaneServer

pytestmark = pytest.mark.anyio


async def stored_pool(server: RunplaneServer, name: str) -> WorkPool:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        return await client.get_work_pool(name)


async def stored_queues(server: RunplaneServer, pool: str) -> dict[str, WorkQueue]:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        return {queue.name: queue for queue in await client.list_work_queues(pool)}


async def test_work_pool_pause_resume_and_limits(server: RunplaneServer) -> None:
    pool = f"cli-{uuid.uuid4().hex[:8]}"
    code, output = await invoke(server, "work-pool", "create", pool, "--limit", "1")
    assert code == 0, output

    code, output = await invoke(server, "work-pool", "pause", pool)
    assert (code, output.strip()) == (0, f"work pool {pool} paused")
    assert (await stored_pool(server, pool)).paused
    code, output = await invoke(server, "work-pool", "inspect", pool)
    assert code == 0, output
    assert "paused" in output.splitlines()[0]

    code, output = await invoke(server, "work-pool", "resume", pool)
    assert (code, output.strip()) == (0, f"work pool {pool} resumed")
    assert not (await stored_pool(server, pool)).paused

    code, output = await invoke(server, "work-pool", "set-limit", pool, "3")
    assert (code, output.strip()) == (0, f"work pool {pool} runs at most 3 at once")
    assert (await stored_pool(server, pool)).concurrency_limit == 3

    code, output = await invoke(server, "work-pool", "clear-limit", pool)
    assert (code, output.strip()) == (0, f"work pool {pool} has no concurrency limit")
    cleared = await stored_pool(server, pool)
    assert (cleared.concurrency_limit, cleared.paused) == (None, False)


async def test_work_pool_commands_on_a_missing_pool_exit_1(server: RunplaneServer) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    for command in (["pause"], ["resume"], ["set-limit"], ["clear-limit"]):
        args = ["work-pool", *command, missing] + (["2"] if command == ["set-limit"] else [])
        code, output = await invoke(server, *args)
        assert (code, output.strip()) == (1, f"no work pool named {missing!r}"), command
    code, output = await invoke(server, "work-pool", "set-limit", missing, "-1")
    assert code == 2, output  # refused before any call


async def test_work_queue_commands(server: RunplaneServer) -> None:
    pool = f"cli-{uuid.uuid4().hex[:8]}"
    assert (await invoke(server, "work-pool", "create", pool))[0] == 0

    code, output = await invoke(
        server, "work-queue", "create", pool, "bulk", "--priority", "5", "--limit", "2"
    )
    assert (code, output.strip()) == (0, f"work queue {pool}/bulk has priority 5")
    code, output = await invoke(server, "work-queue", "create", pool, "later")
    assert (code, output.strip()) == (0, f"work queue {pool}/later has priority 6")

    code, output = await invoke(server, "work-queue", "pause", pool, "bulk")
    assert (code, output.strip()) == (0, f"work queue {pool}/bulk paused")
    code, output = await invoke(server, "work-queue", "set-priority", pool, "bulk", "1")
    assert (code, output.strip()) == (0, f"work queue {pool}/bulk has priority 1")
    code, output = await invoke(server, "work-queue", "set-limit", pool, "later", "4")
    assert (code, output.strip()) == (0, f"work queue {pool}/later runs at most 4 at once")
    queues = await stored_queues(server, pool)
    assert (queues["bulk"].priority, queues["bulk"].paused) == (1, True)
    assert queues["bulk"].concurrency_limit == 2
    assert queues["later"].concurrency_limit == 4

    code, output = await invoke(server, "work-queue", "ls", pool)
    assert code == 0, output
    rows = [line.split() for line in output.splitlines()[1:]]
    assert rows == [["bulk", "1", "2", "yes"], ["default", "1"], ["later", "6", "4"]]

    code, output = await invoke(server, "work-queue", "resume", pool, "bulk")
    assert (code, output.strip()) == (0, f"work queue {pool}/bulk resumed")
    code, output = await invoke(server, "work-queue", "clear-limit", pool, "bulk")
    assert (code, output.strip()) == (0, f"work queue {pool}/bulk has no concurrency limit")
    bulk = (await stored_queues(server, pool))["bulk"]
    assert (bulk.priority, bulk.paused, bulk.concurrency_limit) == (1, False, None)


async def test_work_queue_commands_name_what_is_missing(server: RunplaneServer) -> None:
    pool = f"cli-{uuid.uuid4().hex[:8]}"
    assert (await invoke(server, "work-pool", "create", pool))[0] == 0
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    for args in (["ls", missing], ["create", missing, "q"], ["pause", missing, "default"]):
        code, output = await invoke(server, "work-queue", *args)
        assert (code, output.strip()) == (1, f"no work pool named {missing!r}"), args
    for args in (
        ["pause", pool, "nope"],
        ["resume", pool, "nope"],
        ["set-limit", pool, "nope", "1"],
        ["clear-limit", pool, "nope"],
        ["set-priority", pool, "nope", "2"],
    ):
        code, output = await invoke(server, "work-queue", *args)
        assert (code, output.strip()) == (1, f"work pool {pool!r} has no queue named 'nope'"), args
    code, output = await invoke(server, "work-queue", "set-priority", pool, "default", "0")
    assert code == 2, output  # refused before any call
