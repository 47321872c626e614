"""``runplane concurrency-limit`` against a real server."""

from __future__ import annotations

import uuid

import pytest
from cli_support import invoke

from runplane import NotFound, RunplaneClient, Settings
from runplane.server import RunplaneServer

pytestmark = pytest.mark.anyio


async def test_set_list_inspect_and_delete(server: RunplaneServer) -> None:
    name = f"db-{uuid.uuid4().hex[:8]}"
    code, output = await invoke(server, "concurrency-limit", "set", name, "2")
    assert (code, output.strip()) == (0, f"concurrency limit {name} is 2")

    async with RunplaneClient(Settings(api_url=server.address)) as client:
        assert (await client.get_concurrency_limit(name)).limit == 2
        lease = await client.acquire_concurrency_slots([name], holder_id="cli-test")
        assert lease.granted

        code, output = await invoke(server, "concurrency-limit", "ls")
        assert code == 0, output
        (row,) = [line.split() for line in output.splitlines() if name in line]
        assert row == [name, "2", "1", "0"]

        code, output = await invoke(server, "concurrency-limit", "inspect", name)
        assert code == 0, output
        assert "limit: 2" in output
        assert "active: 1" in output

        code, output = await invoke(server, "concurrency-limit", "set", name, "3")
        assert (code, output.strip()) == (0, f"concurrency limit {name} is 3")
        assert (await client.get_concurrency_limit(name)).limit == 3

        code, output = await invoke(server, "concurrency-limit", "delete", name)
        assert (code, output.strip()) == (0, f"concurrency limit {name} deleted")
        with pytest.raises(NotFound):
            await client.get_concurrency_limit(name)

    code, output = await invoke(server, "concurrency-limit", "inspect", name)
    assert (code, output.strip()) == (1, f"no concurrency limit named {name!r}")
    code, output = await invoke(server, "concurrency-limit", "delete", name)
    assert (code, output.strip()) == (1, f"no concurrency limit named {name!r}")


async def test_a_negative_limit_is_refused_before_any_call(server: RunplaneServer) -> None:
    code, output = await invoke(server, "concurrency-limit", "set", "db", "-1")
    assert code == 2
    assert "-1" in output


async def test_create_a_rate_limit_with_slot_decay(server: RunplaneServer) -> None:
    name = f"api-{uuid.uuid4().hex[:8]}"
    code, output = await invoke(
        server, "concurrency-limit", "create", name, "--limit", "5", "--slot-decay-per-second", "2"
    )
    assert (code, output.strip()) == (0, f"concurrency limit {name} is 5, 2 slots freed per second")
    # Setting the value alone keeps the decay.
    code, output = await invoke(server, "concurrency-limit", "set", name, "6")
    assert code == 0, output
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        limit = await client.get_concurrency_limit(name)
    assert (limit.limit, limit.slot_decay_per_second) == (6, 2.0)
    code, output = await invoke(server, "concurrency-limit", "inspect", name)
    assert code == 0, output
    assert "decay: 2/s" in output
