"""In-process fan-out of events to the streams that watch them.

Servicers publish after their transaction commits; each open stream holds a
subscription with its own bounded queue. A subscriber that falls too far behind is
dropped with an overflow flag rather than slowing every writer down. Closing the hub
ends every subscription, which is how streams finish on shutdown.

A hub may also relay what is published to the other server processes on the same database
(:meth:`Hub.relay_to`), which publish it to their own subscribers with
:meth:`Hub.publish_local`; see :mod:`runplane.server.streams`. A relay that needs only the
ids of what was written (:meth:`Hub.relay_ids_to`) spares the writers the reads that whole
events cost while nobody in this process is subscribed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_CLOSED = object()


@dataclass(frozen=True, slots=True)
class Audience:
    """Who hears of a write; true when anyone does."""

    events: bool
    """Whole events are wanted: build them and ``publish`` them."""
    ids: bool
    """Otherwise, relays want only the ids of what was written: ``relay_written`` them."""

    def __bool__(self) -> bool:
        return self.events or self.ids


class SubscriberOverflow(Exception):
    """The subscriber did not keep up and missed events."""


class Subscription(Generic[T]):
    def __init__(self, hub: Hub[T], max_pending: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[object] = asyncio.Queue(max_pending)
        self.overflowed = False

    def _offer(self, event: object) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self._hub._remove(self)

    def _close(self) -> None:
        # Make room for the end marker: a closing stream no longer needs what it missed.
        while self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)

    async def __aiter__(self) -> AsyncIterator[T]:
        try:
            while True:
                if self.overflowed and self._queue.empty():
                    raise SubscriberOverflow("the stream fell behind and was closed")
                event = await self._queue.get()
                if event is _CLOSED:
                    return
                yield event  # type: ignore[misc]
        finally:
            self._hub._remove(self)

    def close(self) -> None:
        self._hub._remove(self)
        self._close()


class Hub(Generic[T]):
    def __init__(self, max_pending: int = 10_000) -> None:
        self._subscriptions: set[Subscription[T]] = set()
        self._max_pending = max_pending
        self._closed = False
        # Writes in flight that found no subscriber and so will publish nothing.
        self._unobserved = 0
        self._no_unobserved = asyncio.Event()
        self._no_unobserved.set()
        self._relays: list[Callable[[T], None]] = []
        self._id_relays: list[Callable[[Sequence[uuid.UUID]], None]] = []
        self._catch_ups: list[Callable[[], Awaitable[None]]] = []

    def relay_to(self, relay: Callable[[T], None]) -> None:
        """Also hands every event published from now on to ``relay``, which tells the other
        server processes; writes then build whole events for it, unless relays of ids are
        given too (see ``audience``)."""
        self._relays.append(relay)

    def relay_ids_to(self, relay: Callable[[Sequence[uuid.UUID]], None]) -> None:
        """Hands ``relay`` the ids given to ``relay_written``: what writers built no event for,
        because only relays were listening and they need no more than ids."""
        self._id_relays.append(relay)

    def catch_up_with(self, step: Callable[[], Awaitable[None]]) -> None:
        """Makes ``caught_up`` also await ``step``: what a new subscriber needs done before
        it reads the state it starts from (see :mod:`runplane.server.streams`)."""
        self._catch_ups.append(step)

    def audience(self) -> Audience:
        """Who hears of a write made now: whole events are built for this process's
        subscribers (and for relays that take whole events); relays that take ids alone get
        ids when no subscriber is here."""
        if self._subscriptions or (self._relays and not self._id_relays):
            return Audience(events=True, ids=False)
        return Audience(events=False, ids=bool(self._id_relays))

    @contextmanager
    def writing(self) -> Iterator[Audience]:
        """Wraps a write that publishes its changes if anyone hears of them; yields who does
        (see ``audience``). Building events costs reads, so a write no subscriber watches
        skips them, and a new subscriber waits for such writes (``unobserved_writes_done``)
        before reading the state it starts from: otherwise a change could land after that
        read unannounced."""
        audience = self.audience()
        if audience.events:
            yield audience
            return
        self._unobserved += 1
        self._no_unobserved.clear()
        try:
            yield audience
        finally:
            self._unobserved -= 1
            if self._unobserved == 0:
                self._no_unobserved.set()

    async def unobserved_writes_done(self) -> None:
        """Returns once no write that began without subscribers is in flight; call it after
        ``subscribe``, since writes that begin later see the subscriber."""
        await self._no_unobserved.wait()

    async def caught_up(self) -> None:
        """``unobserved_writes_done``, and then whatever the hub must do so that changes made
        by other processes from now on reach the new subscriber; call it after ``subscribe``
        and before reading the state the subscriber starts from."""
        await self.unobserved_writes_done()
        for step in self._catch_ups:
            await step()

    def subscribe(self) -> Subscription[T]:
        subscription: Subscription[T] = Subscription(self, self._max_pending)
        if self._closed:
            subscription._close()
        else:
            self._subscriptions.add(subscription)
        return subscription

    def publish(self, event: T) -> None:
        """Hands a change committed by this process to the subscribers and the relays."""
        self.publish_local(event)
        for relay in self._relays:
            relay(event)

    def relay_written(self, ids: Sequence[uuid.UUID]) -> None:
        """Hands the ids of changes committed by this process, that no event was built for,
        to the relays that take ids (see ``audience``)."""
        if ids:
            for relay in self._id_relays:
                relay(ids)

    def publish_local(self, event: T) -> None:
        """Hands a change to this process's subscribers only (one another process made)."""
        for subscription in list(self._subscriptions):
            subscription._offer(event)

    def close(self) -> None:
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription._close()
        self._subscriptions.clear()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    @property
    def observed(self) -> bool:
        """Whether what is published reaches anyone: a subscriber here or a relay."""
        return bool(self._subscriptions or self._relays)

    def _remove(self, subscription: Subscription[T]) -> None:
        self._subscriptions.discard(subscription)
