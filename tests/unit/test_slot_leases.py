"""Renewing slot leases from one thread, and waking the waiters of this process on a release."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from runplane._client.errors import NotFound
from runplane._engine.slot_leases import LeaseKeeper, Releases

DEADLINE = 30.0


class Renewals:
    """Counts renewals per lease; ``wait_for`` blocks until a lease has had ``times`` of them."""

    def __init__(self) -> None:
        self.counts: dict[uuid.UUID, int] = {}
        self._changed = threading.Condition()

    def __call__(self, lease_id: uuid.UUID) -> None:
        with self._changed:
            self.counts[lease_id] = self.counts.get(lease_id, 0) + 1
            self._changed.notify_all()

    def wait_for(self, lease_id: uuid.UUID, times: int) -> None:
        with self._changed:
            reached = self._changed.wait_for(
                lambda: self.counts.get(lease_id, 0) >= times, DEADLINE
            )
        assert reached, f"lease {lease_id} was renewed fewer than {times} times"


def test_held_leases_are_renewed_until_dropped() -> None:
    renewals = Renewals()
    keeper = LeaseKeeper(renewals, lease_seconds=0.05)
    first, second = uuid.uuid4(), uuid.uuid4()
    keeper.hold(first)
    renewals.wait_for(first, 2)
    keeper.drop(first)
    after_drop = renewals.counts[first]
    keeper.hold(second)
    renewals.wait_for(second, 3)
    keeper.drop(second)
    assert renewals.counts[first] <= after_drop + 1  # one renewal may have been under way


def test_a_lease_the_server_no_longer_knows_is_dropped() -> None:
    calls: list[uuid.UUID] = []
    asked = threading.Event()

    def renew(lease_id: uuid.UUID) -> None:
        calls.append(lease_id)
        asked.set()
        raise NotFound("concurrency lease not found")

    keeper = LeaseKeeper(renew, lease_seconds=0.02)
    lease = uuid.uuid4()
    keeper.hold(lease)
    assert asked.wait(DEADLINE), "the lease was never renewed"
    deadline = time.monotonic() + DEADLINE
    while lease in keeper._due and time.monotonic() < deadline:
        time.sleep(0.001)
    assert lease not in keeper._due


def test_waiting_returns_at_once_after_a_release_it_would_have_missed() -> None:
    releases = Releases()
    seen = releases.count
    releases.notify()
    started = time.monotonic()
    releases.wait(seen, DEADLINE)
    assert time.monotonic() - started < DEADLINE / 2


def test_a_release_wakes_a_blocked_waiter() -> None:
    releases = Releases()
    seen = releases.count
    waiter = threading.Thread(target=releases.wait, args=(seen, DEADLINE))
    started = time.monotonic()
    waiter.start()
    while waiter.is_alive():  # before or after it blocks, a release ends its wait
        releases.notify()
        waiter.join(0.01)
    assert time.monotonic() - started < DEADLINE / 2


def test_a_release_wakes_a_waiting_coroutine_from_another_thread() -> None:
    releases = Releases()

    async def main() -> float:
        seen = releases.count
        started = time.monotonic()
        stop = threading.Event()

        def keep_releasing() -> None:
            while not stop.wait(0.01):
                releases.notify()

        helper = threading.Thread(target=keep_releasing)
        helper.start()
        try:
            await releases.wait_async(seen, DEADLINE)
        finally:
            stop.set()
            helper.join()
        return time.monotonic() - started

    assert asyncio.run(main()) < DEADLINE / 2
