"""``concurrency(...)``: hold a slot of named concurrency limits around any block of code.

The same limits as ``tag:<tag>`` task limits, under any name: ``with concurrency("db"):``
takes one slot of the limit ``db`` (set with ``runplane concurrency-limit set`` or the
client's ``create_concurrency_limit``) and gives it back when the block ends. It works in
flows, in tasks and in plain code, against the same API as the engine: the embedded control
plane, or the server that ``RUNPLANE_API_URL`` names. The lease is renewed while the block
runs, so a slot outlives a long block but not a killed process.

``occupy=N`` takes N slots of each limit at once. A limit with ``slot_decay_per_second`` is a
rate limit: the slots taken of it are freed at that rate over time, not when the block
ends, and ``rate_limit(name, occupy=N)`` takes them without a block at all.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Sequence
from types import TracebackType

from runplane._client.errors import NotFound
from runplane._engine.client import engine_client
from runplane._engine.errors import RunAborted
from runplane._engine.task_slots import TagSlots
from runplane._runtime.context import current_run_ids


class ConcurrencySlots:
    """A slot of each named limit, held for the duration of a ``with`` (or ``async with``)."""

    def __init__(
        self,
        names: Sequence[str],
        timeout_seconds: float | None,
        strict: bool,
        occupy: int = 1,
        *,
        rate_limited: bool = False,
    ) -> None:
        if not names:
            raise ValueError("concurrency needs at least one limit name")
        if timeout_seconds is not None and timeout_seconds < 0:
            raise ValueError("timeout_seconds must be 0 or more")
        if occupy < 1:
            raise ValueError(f"occupy must be 1 or more, got {occupy}")
        self.names = list(names)
        self.occupy = occupy
        self.rate_limited = rate_limited
        """Every named limit must decay: a rate limit takes slots and never gives them back."""
        self.timeout_seconds = timeout_seconds
        self.strict = strict
        self.lease_id: uuid.UUID | None = None
        """The lease holding the slots, while the block runs."""
        self._slots: TagSlots | None = None
        self._holder = ""

    def __enter__(self) -> ConcurrencySlots:
        slots, deadline, request_id = self._start()
        slots.releases.ask_until_answered(lambda: self._ask(slots, deadline, request_id))
        return self

    async def __aenter__(self) -> ConcurrencySlots:
        # Opening the engine's client may start the embedded control plane: off the loop.
        slots, deadline, request_id = await asyncio.to_thread(self._start)
        await slots.releases.ask_until_answered_async(
            lambda: self._ask(slots, deadline, request_id)
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._release()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self._release)

    def _start(self) -> tuple[TagSlots, float | None, uuid.UUID]:
        """The process's slots against the engine's API, the deadline, one request id."""
        if self.lease_id is not None:
            raise RuntimeError("these concurrency slots are held already")
        slots = engine_client().tag_slots()
        if self.rate_limited:
            self._check_decay(slots)
        elif self.strict:
            for name in self.names:
                slots.client.get_concurrency_limit(name)  # NotFound names the missing one
        deadline = None
        if self.timeout_seconds is not None:
            deadline = time.monotonic() + self.timeout_seconds
        self._slots = slots
        flow_run_id, task_run_id = current_run_ids()
        self._holder = str(task_run_id or flow_run_id or f"process-{os.getpid()}")
        # The same id on every ask: a repeat after a lost answer gets the lease it granted.
        return slots, deadline, uuid.uuid4()

    def _check_decay(self, slots: TagSlots) -> None:
        """Refuses limits without decay: a rate limit's slots would never come free."""
        for name in self.names:
            try:
                limit = slots.client.get_concurrency_limit(name)
            except NotFound:
                if self.strict:
                    raise
                continue
            if limit.slot_decay_per_second <= 0:
                raise ValueError(
                    f"rate_limit needs concurrency limits with slot decay, and {name} has none:"
                    f" set one with `runplane concurrency-limit create {name} --limit"
                    f" {limit.limit} --slot-decay-per-second <rate>`"
                )

    def _ask(self, slots: TagSlots, deadline: float | None, request_id: uuid.UUID) -> float | None:
        """None once the slots are held; else how long to wait before asking again."""
        try:
            answer = slots.acquire(self.names, self._holder, request_id, self.occupy)
        except RunAborted as error:  # a limit of 0: waiting would never end
            raise RuntimeError(str(error)) from None
        if isinstance(answer, uuid.UUID):
            self.lease_id = answer
            return None
        if deadline is None:
            return answer
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(
                f"no slot of {', '.join(self.names)} came free within {self.timeout_seconds} s"
            )
        return min(answer, left)

    def _release(self) -> None:
        lease_id, self.lease_id = self.lease_id, None
        if lease_id is not None and self._slots is not None:
            self._slots.release(lease_id)


def concurrency(
    names: str | Sequence[str],
    occupy: int = 1,
    *,
    timeout_seconds: float | None = None,
    strict: bool = False,
) -> ConcurrencySlots:
    """Holds ``occupy`` slots (one by default) of each named concurrency limit while the
    ``with`` block runs, all of them or none.

    Waits while any of them is full (at once woken when another block of this process gives
    a slot back); ``timeout_seconds`` bounds the wait with ``TimeoutError``. Names without a
    limit hold nothing, unless ``strict`` is set, which raises ``NotFound`` for them. A limit
    of 0 never grants a slot and raises ``RuntimeError`` at once, and ``occupy`` more than a
    limit ``InvalidArgument``. The slots of a limit with slot decay are freed over time at its
    rate, not when the block ends.

    >>> with concurrency("database", occupy=2, timeout_seconds=60):
    ...     load_rows()
    """
    listed = [names] if isinstance(names, str) else names
    return ConcurrencySlots(listed, timeout_seconds, strict, occupy)


def rate_limit(
    names: str | Sequence[str],
    occupy: int = 1,
    *,
    timeout_seconds: float | None = None,
    strict: bool = False,
) -> None:
    """Takes ``occupy`` slots of each named limit and keeps them: they are freed by the
    limits' slot decay, so calls go through at most at that rate.

    Waits while any limit has too few free slots; ``timeout_seconds`` bounds the wait with
    ``TimeoutError``. Every named limit must have ``slot_decay_per_second`` set, else
    ``ValueError``. Names without a limit are ignored, unless ``strict`` is set.

    >>> for page in pages:
    ...     rate_limit("github-api")
    ...     fetch(page)
    """
    listed = [names] if isinstance(names, str) else names
    with ConcurrencySlots(listed, timeout_seconds, strict, occupy, rate_limited=True):
        pass  # the lease holds none of a decaying limit's slots: they stay taken


async def arate_limit(
    names: str | Sequence[str],
    occupy: int = 1,
    *,
    timeout_seconds: float | None = None,
    strict: bool = False,
) -> None:
    """``rate_limit`` for a coroutine: waiting leaves the event loop free."""
    listed = [names] if isinstance(names, str) else names
    async with ConcurrencySlots(listed, timeout_seconds, strict, occupy, rate_limited=True):
        pass
