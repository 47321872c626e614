"""``concurrency(...)`` blocks through a real server: in plain code, in flows and tasks."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from engine_support import engine_api

from runplane import NotFound, SyncRunplaneClient, concurrency, flow, task

__all__ = ["engine_api"]


def unique_limit(client: SyncRunplaneClient, limit: int) -> str:
    name = f"db-{uuid.uuid4().hex[:8]}"
    client.create_concurrency_limit(name, limit)
    return name


def test_blocks_never_hold_more_slots_than_the_limit(engine_api: SyncRunplaneClient) -> None:
    name = unique_limit(engine_api, 2)
    lock = threading.Lock()
    inside = 0
    most = 0
    entered = 0

    def work() -> None:
        nonlocal inside, most, entered
        for _ in range(5):
            with concurrency(name, timeout_seconds=60):
                with lock:
                    inside += 1
                    entered += 1
                    most = max(most, inside)
                # Other threads run meanwhile; any of them entering now would break the limit.
                threading.Event().wait(0.01)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert entered == 25
    assert most <= 2
    assert engine_api.get_concurrency_limit(name).active_slots == 0


def test_blocks_take_a_slot_each_up_to_the_limit(engine_api: SyncRunplaneClient) -> None:
    name = unique_limit(engine_api, 2)
    with concurrency(name), concurrency(name):
        assert engine_api.get_concurrency_limit(name).active_slots == 2
        with pytest.raises(TimeoutError), concurrency(name, timeout_seconds=0):
            pytest.fail("entered a third block under a limit of 2")
    assert engine_api.get_concurrency_limit(name).active_slots == 0


def test_a_full_limit_times_out_and_a_freed_slot_lets_the_waiter_in(
    engine_api: SyncRunplaneClient,
) -> None:
    name = unique_limit(engine_api, 1)
    let_go = threading.Event()
    held = threading.Event()
    waiter_in = threading.Event()

    def holder() -> None:
        with concurrency(name):
            held.set()
            let_go.wait(60)

    def waiter() -> None:
        with concurrency(name, timeout_seconds=60):
            waiter_in.set()

    first = threading.Thread(target=holder)
    first.start()
    assert held.wait(30)
    assert engine_api.get_concurrency_limit(name).active_slots == 1
    with pytest.raises(TimeoutError, match=name), concurrency(name, timeout_seconds=0.2):
        pytest.fail("entered a full limit")
    second = threading.Thread(target=waiter)
    second.start()
    let_go.set()
    first.join(30)
    second.join(60)
    assert waiter_in.is_set()
    assert engine_api.get_concurrency_limit(name).active_slots == 0


def test_names_without_a_limit_hold_nothing_unless_strict(
    engine_api: SyncRunplaneClient,
) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    with concurrency(missing) as slots:
        assert slots.lease_id is not None
    with pytest.raises(NotFound, match=missing), concurrency(missing, strict=True):
        pytest.fail("entered a block on a missing limit with strict=True")


def test_a_limit_of_zero_refuses_at_once(engine_api: SyncRunplaneClient) -> None:
    name = unique_limit(engine_api, 0)
    with pytest.raises(RuntimeError, match="never grants"), concurrency(name):
        pytest.fail("entered a block on a limit of 0")


def test_a_slot_is_given_back_when_the_block_raises(engine_api: SyncRunplaneClient) -> None:
    name = unique_limit(engine_api, 1)
    with pytest.raises(KeyError), concurrency(name):
        raise KeyError("boom")
    assert engine_api.get_concurrency_limit(name).active_slots == 0


def test_tasks_and_async_flows_share_a_limit(engine_api: SyncRunplaneClient) -> None:
    name = unique_limit(engine_api, 1)
    seen: list[int] = []

    @task
    def load(n: int) -> int:
        with concurrency(name, timeout_seconds=60):
            seen.append(engine_api.get_concurrency_limit(name).active_slots)
            return n

    @flow
    async def loads() -> list[int]:
        async with concurrency(name, timeout_seconds=60) as slots:
            held = engine_api.get_concurrency_limit(name).active_slots
            assert slots.lease_id is not None
        futures = load.map(range(4))
        return [held, *(future.result() for future in futures)]

    assert asyncio.run(loads()) == [1, 0, 1, 2, 3]
    assert seen == [1, 1, 1, 1]
    assert engine_api.get_concurrency_limit(name).active_slots == 0


def test_concurrency_needs_a_name() -> None:
    with pytest.raises(ValueError, match="at least one"):
        concurrency([])
    with pytest.raises(ValueError, match="timeout_seconds"):
        concurrency("db", timeout_seconds=-1)
