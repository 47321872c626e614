"""Keeping concurrency-slot leases alive, and telling waiters of this process a slot is free.

``LeaseKeeper`` renews every lease the process holds from one daemon thread, each at half
its duration, so that a slot outlives a long task but not a dead process. ``Releases``
wakes the task runs of this process that wait for a slot whenever another of its task runs
gives one back: they ask again at once instead of at their next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from runplane._client.errors import NotFound
from runplane._engine.off_loop import off_loop

T = TypeVar("T")

logger = logging.getLogger("runplane.engine")

IDLE_SECONDS = 5.0
"""How long the renewal thread outlives the last lease before it exits."""


class LeaseKeeper:
    """Renews the leases it is given until they are dropped."""

    def __init__(self, renew: Callable[[uuid.UUID], object], lease_seconds: float) -> None:
        self._renew = renew
        self._period = lease_seconds / 2
        self._due: dict[uuid.UUID, float] = {}
        """Lease id -> when (time.monotonic) to renew it next."""
        self._changed = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None

    def hold(self, lease_id: uuid.UUID) -> None:
        with self._changed:
            self._due[lease_id] = time.monotonic() + self._period
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="runplane-slot-leases", daemon=True
                )
                self._thread.start()

    def drop(self, lease_id: uuid.UUID) -> None:
        with self._changed:
            self._due.pop(lease_id, None)

    def _run(self) -> None:
        while True:
            due = self._next_due()
            if due is None:
                return
            for lease_id in due:
                self._renew_one(lease_id)

    def _next_due(self) -> list[uuid.UUID] | None:
        """Waits until some leases need renewing; None when idle long enough to stop."""
        with self._changed:
            idle_since = time.monotonic()
            while True:
                now = time.monotonic()
                if not self._due:
                    if now - idle_since >= IDLE_SECONDS:
                        self._thread = None
                        return None
                    self._changed.wait(IDLE_SECONDS - (now - idle_since))
                    continue
                due = [lease_id for lease_id, at in self._due.items() if at <= now]
                if due:
                    for lease_id in due:
                        self._due[lease_id] = now + self._period
                    return due
                self._changed.wait(min(self._due.values()) - now)

    def _renew_one(self, lease_id: uuid.UUID) -> None:
        try:
            self._renew(lease_id)
        except NotFound:
            # Expired (the process stalled longer than the lease) or already released.
            with self._changed:
                lost = self._due.pop(lease_id, None) is not None
            if lost:
                logger.warning("concurrency lease %s expired before it was renewed", lease_id)
        except Exception as error:
            logger.warning("could not renew concurrency lease %s: %s", lease_id, error)
            with self._changed:
                if lease_id in self._due:
                    self._due[lease_id] = time.monotonic() + self._period / 4


class Releases:
    """A counter of slots given back in this process, and the waiters to wake on each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._waiters: list[Callable[[], None]] = []

    @property
    def count(self) -> int:
        """Read before asking for a slot, and passed to ``wait``: no release is missed."""
        return self._count

    def notify(self) -> None:
        with self._lock:
            self._count += 1
            waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake()

    def _add(self, seen: int, wake: Callable[[], None]) -> bool:
        """Registers ``wake``; False when a release happened since ``seen`` already."""
        with self._lock:
            if self._count != seen:
                return False
            self._waiters.append(wake)
            return True

    def _remove(self, wake: Callable[[], None]) -> None:
        with self._lock:
            if wake in self._waiters:
                self._waiters.remove(wake)

    def ask_until_answered(self, ask: Callable[[], T | float]) -> T:
        """Calls ``ask`` until it answers something other than seconds to wait; waits those
        seconds in between, or less when a slot of this process is given back meanwhile."""
        while True:
            seen = self._count
            answer = ask()
            if not isinstance(answer, float):
                return answer
            self.wait(seen, answer)

    async def ask_until_answered_async(self, ask: Callable[[], T | float]) -> T:
        """``ask_until_answered`` for a coroutine: asking and waiting leave the event loop free."""
        while True:
            seen = self._count
            answer = await off_loop(ask)  # a round trip to the server
            if not isinstance(answer, float):
                return answer
            await self.wait_async(seen, answer)

    def wait(self, seen: int, timeout: float) -> None:
        """Blocks until a release after ``seen``, or for ``timeout`` seconds."""
        event = threading.Event()
        wake = event.set
        if self._add(seen, wake):
            try:
                event.wait(timeout)
            finally:
                self._remove(wake)

    async def wait_async(self, seen: int, seconds: float) -> None:
        """``wait`` for a coroutine: the event loop keeps running other work meanwhile."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()

        def wake() -> None:
            # The waiter's loop may have ended after it was handed the wake-up.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

        if self._add(seen, wake):
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(seconds):
                        await event.wait()
            finally:
                self._remove(wake)
