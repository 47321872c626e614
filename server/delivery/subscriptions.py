"""The runners subscribed to work pools on this server, with a queue of items for each.

A subscription belongs to one open SubscribeWork stream. Whatever must reach that runner
(assignments, cancellations) is offered to its queue, which the stream drains. The queue is
bounded by the runner's slots (its free slots and the leases it presents when it subscribes),
so a full queue means the runner cannot take more. Closing a subscription (server shutdown)
lets the stream send what is already queued, then tell the runner to reconnect.

Nothing here touches the database or the wire: the item type is the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

_RUNNER_NAMESPACE = uuid.UUID("6f1c9c2e-4a57-4d0a-9a43-2f0d3b6a8e11")

Idle = Literal["idle"]
Closed = Literal["closed"]
IDLE: Idle = "idle"
CLOSED: Closed = "closed"


def runner_id_for(runner_name: str) -> uuid.UUID:
    """The same id for every subscription of a named runner; a fresh one for a nameless one."""
    if not runner_name:
        return uuid.uuid4()
    return uuid.uuid5(_RUNNER_NAMESPACE, runner_name)


class _EndMarker:
    pass


_END = _EndMarker()


@dataclass(eq=False)
class WorkSubscription(Generic[T]):
    """One runner's open stream on one pool."""

    session_id: uuid.UUID
    runner_id: uuid.UUID
    runner_name: str
    work_pool_name: str
    work_queue_names: tuple[str, ...]
    free_slots: int
    held_lease_ids: tuple[uuid.UUID, ...] = ()
    runtimes: tuple[str, ...] = ("python",)
    """Only runs of deployments with one of these runtimes are handed to this runner."""
    _queue: asyncio.Queue[T | _EndMarker] = field(init=False)
    _closed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        # Room for as many assignments as the runner has slots (see delivery/capacity.py).
        self._queue = asyncio.Queue(max(self.free_slots + len(self.held_lease_ids), 1))

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def room(self) -> int:
        """How many more items the queue takes now."""
        return 0 if self._closed else self._queue.maxsize - self._queue.qsize()

    def offer(self, item: T) -> bool:
        """Queues an item for the runner; False when the stream is closing or the queue full."""
        if self._closed:
            return False
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        return True

    def close(self) -> None:
        """Ends the stream once the items already queued are sent."""
        if self._closed:
            return
        self._closed = True
        # Wakes a waiting reader; when the queue is full the reader is not waiting anyway.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_END)

    async def next_item(self, idle_after: float) -> T | Idle | Closed:
        """The next queued item, IDLE after ``idle_after`` seconds without one, or CLOSED."""
        if self._closed and self._queue.empty():
            return CLOSED
        try:
            async with asyncio.timeout(idle_after):
                item = await self._queue.get()
        except TimeoutError:
            return IDLE
        if isinstance(item, _EndMarker):
            return CLOSED
        return item


class SubscriptionRegistry(Generic[T]):
    """Every open subscription of this server process, by pool and by session."""

    def __init__(self) -> None:
        self._by_session: dict[uuid.UUID, WorkSubscription[T]] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        """Shutdown began: new subscriptions would only be told to reconnect."""
        return self._closed

    def open(
        self,
        *,
        runner_name: str,
        work_pool_name: str,
        work_queue_names: Sequence[str],
        free_slots: int,
        held_lease_ids: Sequence[uuid.UUID] = (),
        runtimes: Sequence[str] = ("python",),
    ) -> WorkSubscription[T]:
        subscription: WorkSubscription[T] = WorkSubscription(
            session_id=uuid.uuid4(),
            runner_id=runner_id_for(runner_name),
            runner_name=runner_name,
            work_pool_name=work_pool_name,
            work_queue_names=tuple(work_queue_names),
            free_slots=free_slots,
            held_lease_ids=tuple(held_lease_ids),
            runtimes=tuple(runtimes),
        )
        if self._closed:
            subscription.close()
        else:
            self._by_session[subscription.session_id] = subscription
        return subscription

    def remove(self, subscription: WorkSubscription[T]) -> None:
        if self._by_session.get(subscription.session_id) is subscription:
            del self._by_session[subscription.session_id]

    def get(self, session_id: uuid.UUID) -> WorkSubscription[T] | None:
        return self._by_session.get(session_id)

    def all(self) -> list[WorkSubscription[T]]:
        return list(self._by_session.values())

    def for_pool(self, work_pool_name: str) -> list[WorkSubscription[T]]:
        return [s for s in self._by_session.values() if s.work_pool_name == work_pool_name]

    def count(self, work_pool_name: str) -> int:
        return len(self.for_pool(work_pool_name))

    def close_all(self) -> None:
        """Asks every stream to end (shutdown); later subscriptions end at once."""
        self._closed = True
        for subscription in list(self._by_session.values()):
            subscription.close()
