"""``concurrency(..., occupy=N)`` and ``rate_limit(...)`` on the embedded default and on a
server of each database."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from engine_support import any_engine_api

from runplane import (
    InvalidArgument,
    SyncRunplaneClient,
    arate_limit,
    concurrency,
    flow,
    rate_limit,
)

__all__ = ["any_engine_api"]


def unique_limit(client: SyncRunplaneClient, limit: int, decay: float = 0.0) -> str:
    name = f"api-{uuid.uuid4().hex[:8]}"
    client.create_concurrency_limit(name, limit, slot_decay_per_second=decay)
    return name


def test_occupy_takes_that_many_slots_of_each_limit(any_engine_api: SyncRunplaneClient) -> None:
    first, second = unique_limit(any_engine_api, 3), unique_limit(any_engine_api, 4)
    with concurrency([first, second], occupy=2):
        assert any_engine_api.get_concurrency_limit(first).active_slots == 2
        assert any_engine_api.get_concurrency_limit(second).active_slots == 2
        # 2 more of each: the second has room, the first does not, so neither is taken.
        with pytest.raises(TimeoutError), concurrency([first, second], 2, timeout_seconds=0):
            pytest.fail("entered with 4 slots held of a limit of 3")
        assert any_engine_api.get_concurrency_limit(second).active_slots == 2
    assert any_engine_api.get_concurrency_limit(first).active_slots == 0


def test_occupy_more_than_the_limit_is_refused_at_once(
    any_engine_api: SyncRunplaneClient,
) -> None:
    name = unique_limit(any_engine_api, 2)
    with pytest.raises(InvalidArgument, match="occupy"), concurrency(name, occupy=3):
        pytest.fail("entered with more slots than the limit has")


def test_async_blocks_take_occupy_slots(any_engine_api: SyncRunplaneClient) -> None:
    name = unique_limit(any_engine_api, 5)

    @flow
    async def loads() -> int:
        async with concurrency(name, occupy=4):
            return any_engine_api.get_concurrency_limit(name).active_slots

    assert asyncio.run(loads()) == 4
    assert any_engine_api.get_concurrency_limit(name).active_slots == 0


def test_rate_limit_paces_calls_at_the_decay_rate(any_engine_api: SyncRunplaneClient) -> None:
    name = unique_limit(any_engine_api, 1, decay=20.0)  # one call per 50 ms
    started = time.monotonic()
    for _ in range(5):
        rate_limit(name, timeout_seconds=30)
    elapsed = time.monotonic() - started
    # The first call goes at once, each of the four others after a slot has decayed.
    assert elapsed >= 4 / 20.0 - 0.01
    # Whether the last slot is still held depends on how long this read takes; the exact
    # decay is tested against the server's manual clock in test_concurrency_occupy_decay.


def test_rate_limit_occupy_and_timeout(any_engine_api: SyncRunplaneClient) -> None:
    name = unique_limit(any_engine_api, 3, decay=0.01)  # a slot every 100 s
    rate_limit(name, occupy=3)
    assert any_engine_api.get_concurrency_limit(name).active_slots == 3
    with pytest.raises(TimeoutError):
        rate_limit(name, timeout_seconds=0)


def test_rate_limit_refuses_a_limit_without_decay(any_engine_api: SyncRunplaneClient) -> None:
    name = unique_limit(any_engine_api, 3)
    with pytest.raises(ValueError, match=f"{name} has none"):
        rate_limit(name)
    assert any_engine_api.get_concurrency_limit(name).active_slots == 0


def test_a_concurrency_block_on_a_decaying_limit_leaves_its_slots_to_decay(
    any_engine_api: SyncRunplaneClient,
) -> None:
    name = unique_limit(any_engine_api, 2, decay=0.01)

    async def twice() -> None:
        async with concurrency(name):
            pass
        await arate_limit(name)

    asyncio.run(twice())
    assert any_engine_api.get_concurrency_limit(name).active_slots == 2
