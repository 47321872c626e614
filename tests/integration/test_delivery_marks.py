"""What reaches the work dispatcher while one of its passes waits on the database.

Each test holds a pass at a known await (publishing its notifications, a round trip on
PostgreSQL) and makes a change there: a new subscriber's mark must still be delivered, and a
stop must end the dispatcher even when the driver turns the cancellation into an error.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence

import pytest
from delivery_support import (
    create_deployment,
    next_item,
    quiet,
    run_deployment,
    serving,
    subscribe,
    unique,
)

from runplane.server import ServerSettings
from runplane.server.db.delivery_dialects import DeliveryDialect
from runplane.server.delivery.dispatcher import WorkDispatcher

pytestmark = pytest.mark.anyio


class _HeldPublish:
    """The dispatcher's dialect, with ``publish`` held at the gate once armed."""

    def __init__(self, dialect: DeliveryDialect) -> None:
        self._dialect = dialect
        self.due_run_ids = dialect.due_run_ids
        self.listen = dialect.listen
        self.armed = False
        self.waiting = asyncio.Event()
        self.gate = asyncio.Event()

    async def publish(self, payloads: Sequence[str]) -> None:
        if self.armed:
            self.armed = False
            self.waiting.set()
            await self.gate.wait()
        await self._dialect.publish(payloads)


async def _until(predicate: Callable[[], bool]) -> None:
    """Waits up to 10 s for the predicate to hold."""
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the condition did not hold within 10 s")


async def test_a_runner_subscribing_while_a_pass_publishes_gets_the_due_runs(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (server, channel):
        dispatcher: WorkDispatcher = server.context.background.dispatcher
        held = _HeldPublish(dispatcher._dialect)
        dispatcher._dialect = held
        pool = unique("pool")
        deployment = await create_deployment(channel, pool)
        run = await run_deployment(channel, deployment.id)
        # A pass for another pool, held before it picks the pools to look at.
        held.armed = True
        dispatcher.notify_work(unique("pool"))
        await asyncio.wait_for(held.waiting.wait(), timeout=10.0)
        stream, started = await subscribe(channel, pool, slots=1)
        await _until(lambda: uuid.UUID(started.session_id) in dispatcher._slots)
        held.gate.set()
        item = await next_item(stream, within=10.0)
        stream.cancel()
    assert item.assignment.flow_run.id == run.id


class _CancelTurnedIntoError(_HeldPublish):
    """``publish`` raises an error of its own when cancelled, as a driver may."""

    async def publish(self, payloads: Sequence[str]) -> None:
        try:
            await super().publish(payloads)
        except asyncio.CancelledError as cancelled:
            raise RuntimeError("the query was interrupted") from cancelled


async def test_a_pass_cancelled_inside_the_driver_still_lets_the_server_stop(
    server_settings: ServerSettings,
) -> None:
    async with serving(quiet(server_settings)) as (server, _):
        dispatcher: WorkDispatcher = server.context.background.dispatcher
        held = _CancelTurnedIntoError(dispatcher._dialect)
        dispatcher._dialect = held
        held.armed = True
        dispatcher.notify_work(unique("pool"))
        await asyncio.wait_for(held.waiting.wait(), timeout=10.0)
        # Stopping cancels the pass held in publish; the dispatcher must end, not retry.
        await asyncio.wait_for(server.context.background.stop(), timeout=10.0)
