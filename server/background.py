"""The server's background work: the work dispatcher, its notification listener, the feed
of other server processes' changes to this one's streams, and the loops, in one task group
that starts and stops with the server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from runplane.server.clock import Clock
from runplane.server.cluster_notices import decode
from runplane.server.db.delivery_dialects import delivery_dialect
from runplane.server.db.engine import Database
from runplane.server.db.logs import LogRecord
from runplane.server.delivery.dispatcher import WorkDispatcher
from runplane.server.delivery.subscriptions import SubscriptionRegistry
from runplane.server.delivery.task_workers import TaskWorkerDelivery
from runplane.server.delivery.work_items import WorkItem
from runplane.server.delivery.written import announcing
from runplane.server.hub import Hub
from runplane.server.loops.late_marker import LateMarker
from runplane.server.loops.periodic import every
from runplane.server.loops.reapers import Reapers
from runplane.server.loops.retention import Retention
from runplane.server.loops.scheduler import Scheduler
from runplane.server.settings import ServerSettings
from runplane.server.streams.feeds import stream_feed
from runplane.server.transitions.events import FlowRunEvent


class Background:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        settings: ServerSettings,
        subscriptions: SubscriptionRegistry[WorkItem],
        events: Hub[FlowRunEvent],
        logs: Hub[tuple[LogRecord, ...]] | None = None,
    ) -> None:
        self._settings = settings
        self._database = database
        self._events = events
        self._dialect = delivery_dialect(database)
        self.dispatcher = WorkDispatcher(
            database, clock, subscriptions, settings, self._dialect, events
        )
        publish = self._dialect.publish if database.is_postgres else None
        self.task_workers = TaskWorkerDelivery(database, clock, settings, Hub(), publish)
        self.streams = stream_feed(database, self._dialect, events, logs or Hub())
        self.scheduler = Scheduler(database, clock, settings)
        self.reapers = Reapers(database, clock, settings)
        self.retention = Retention(database, clock, settings)
        self.late_marker = LateMarker(database, clock, settings, self.dispatcher.has_runner)
        self._task: asyncio.Task[None] | None = None

    def _announced(self, step: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            async with announcing(self._database, self._events) as written:
                await step()
            if written.freed_slots:
                self.dispatcher.notify_slots_freed()
            self.dispatcher.notify_written(written.states)

        return run

    def _then_notify(
        self, step: Callable[[], Awaitable[set[str]]]
    ) -> Callable[[], Awaitable[None]]:
        """The step, announced, then a delivery pass for the pools it says have runs due."""

        async def notify_pools() -> None:
            for pool in await step():
                self.dispatcher.notify_work(pool)

        return self._announced(notify_pools)

    def _on_payload(self, payload: str) -> None:
        notice = decode(payload)
        if notice is not None:
            self.dispatcher.on_notice(notice)
            self.streams.on_notice(notice)
            self.task_workers.on_notice(notice)

    def _loops(self) -> Iterable[Coroutine[Any, Any, None]]:
        s = self._settings
        yield self.dispatcher.run()
        yield self._dialect.listen(self._on_payload, self.dispatcher.wake)
        yield self.streams.run()
        yield self.task_workers.run()
        if not s.loops_enabled:
            return
        yield every(s.lease_reaper_interval, "task lease reaper", self._expire_task_leases)
        yield every(s.scheduler_interval, "scheduler", self._then_notify(self.scheduler.run_once))
        late = self._announced(self.late_marker.run_once)
        yield every(s.late_marker_interval, "late marker", late)
        expire = self._then_notify(self.reapers.expire_leases)
        yield every(s.lease_reaper_interval, "lease reaper", expire)
        crash = self._then_notify(self.reapers.crash_silent_runs)
        yield every(s.heartbeat_reaper_interval, "heartbeat reaper", crash)
        finish = self._announced(self.reapers.finish_cancellations)
        yield every(s.cancellation_reaper_interval, "cancellation timeout", finish)
        if self.retention.enabled:
            yield every(s.retention_interval, "retention", self.retention.run_once)

    async def _expire_task_leases(self) -> None:
        await self.task_workers.expire_leases()

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for loop in self._loops():
                group.create_task(loop)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="runplane background")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
