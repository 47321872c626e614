"""Pushes background task runs to the task workers subscribed to this server process.

A task worker subscribes with the task keys it runs and a slot limit
(``SubscribeTaskRuns``). The subscriptions are the work stream's own
(:class:`~runplane.server.delivery.subscriptions.WorkSubscription`, with the task keys as its
queue names), and one task claims for all of them, so that a worker's slots are never counted
twice. A claim moves a SCHEDULED run to PENDING through the task-run rules under a new lease,
in the transaction that locked it (``SKIP LOCKED``: two server processes claim different
runs), and queues it on the worker's stream. A worker's slots in use are counted from the
database: its runs that are PENDING or RUNNING.

A background run created here is claimed in the transaction that creates it when one of
this process's workers has a free slot. Otherwise the claimer wakes when a run of one of its
workers left PENDING or RUNNING or a worker heartbeats (slots may be free), when a new worker
subscribes, when the lease reaper gave runs back, when another server process says it
changed task runs, and on the slow sweep.

Other server processes hear of the task runs this one changes, for their task workers and for
WatchTaskRun: on PostgreSQL by NOTIFY (``TaskRunsChanged``, ids only), on SQLite by polling
``PRAGMA data_version`` on one held connection while anyone here subscribes or watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from runplane.server.clock import Clock
from runplane.server.cluster_notices import Notice, TaskRunsChanged, task_runs_changed
from runplane.server.db import changes, task_leases, task_runs
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.engine import Database
from runplane.server.db.flow_runs import Connection
from runplane.server.db.run_records import LockedRun, TaskRunRecord
from runplane.server.delivery.subscriptions import SubscriptionRegistry, WorkSubscription
from runplane.server.hub import Hub
from runplane.server.orchestration import StateSpec, StateType
from runplane.server.settings import ServerSettings
from runplane.server.transitions.stored_states import ProposedState
from runplane.server.transitions.task_runs import propose

logger = logging.getLogger(__name__)

TASK_WORKER_POOL = ""
"""The work-pool name of task-worker subscriptions: they take task runs, not a pool's runs."""

_MAX_REAPED = 500
POLL_INTERVAL = 0.1
"""How often, on SQLite, other processes' commits are looked for while anyone here needs them."""

ANY_RUN = uuid.UUID(int=0)
"""Published to ``changes`` when some task run may have changed through another process."""

Publish = Callable[[Sequence[str]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TaskAssignment:
    """A background run claimed for a task worker, as read back after the claim (PENDING)."""

    run: TaskRunRecord
    lease_id: uuid.UUID
    lease_expire_time: datetime


TaskSubscription = WorkSubscription[TaskAssignment]


class TaskWorkerDelivery:
    """The task workers of this server process, the claims made for them, and their leases."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        settings: ServerSettings,
        changes: Hub[uuid.UUID],
        publish: Publish | None = None,
    ) -> None:
        self._db = database
        self._publish = publish
        """NOTIFY to the other server processes (PostgreSQL); None on SQLite."""
        self._token = uuid.uuid4().hex[:16]
        self._outbox: list[uuid.UUID] = []
        self._outbox_ready = asyncio.Event()
        self._clock = clock
        self._settings = settings
        self.changes = changes
        """Ids of task runs whose state this process changed, for WatchTaskRun."""
        self.subscriptions: SubscriptionRegistry[TaskAssignment] = SubscriptionRegistry()
        self._wake = asyncio.Event()
        self.claiming = asyncio.Lock()
        """Held around every claim of this process, so that a worker's free slots are counted
        by one claim at a time."""

    @property
    def lease_seconds(self) -> float:
        """How long a lease lasts after a claim or a heartbeat without another heartbeat."""
        return self._settings.heartbeat_timeout

    def notify(self) -> None:
        """Runs may be waiting and slots free: claim now. Call after the commit."""
        self._wake.set()

    def changed(self, run_ids: list[uuid.UUID]) -> None:
        """Tells watchers and other server processes that these runs changed. Call after the
        commit."""
        for run_id in run_ids:
            self.changes.publish(run_id)
        if run_ids and self._publish is not None:
            self._outbox.extend(run_ids)
            self._outbox_ready.set()

    def on_notice(self, notice: Notice) -> None:
        """A notice of another server process: its task-run changes."""
        if not isinstance(notice, TaskRunsChanged) or notice.sender == self._token:
            return
        for run_id in notice.run_ids:
            self.changes.publish_local(run_id)
        self.notify()

    def _needed(self) -> bool:
        """Whether anyone here needs to hear of other processes' changes."""
        return bool(self.subscriptions.all() or self.changes.subscriber_count)

    async def run(self) -> None:
        """Claims for the subscribed workers; tells and hears of other processes' changes."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._claims())
            if self._publish is not None:
                group.create_task(self._send(self._publish))
            else:
                group.create_task(self._poll())

    async def _send(self, publish: Publish) -> None:
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            run_ids, self._outbox = self._outbox, []
            try:
                await publish(task_runs_changed(self._token, dict.fromkeys(run_ids)))
            except Exception as error:
                # The others' sweep finds the runs; their watchers hear of the next change.
                logger.warning("could not tell other servers of task-run changes: %s", error)

    async def _poll(self) -> None:
        """SQLite: other connections' commits move ``data_version`` on a held connection."""
        conn: AsyncConnection | None = None
        version = 0
        try:
            while True:
                await asyncio.sleep(POLL_INTERVAL)
                if not self._needed():
                    if conn is not None:
                        await conn.close()
                        conn = None
                    continue
                try:
                    if conn is None:
                        conn = await self._db.engine.connect()
                        version = await changes.data_version(conn)
                        # What was committed before the starting point is found by a pass.
                        self.changes.publish_local(ANY_RUN)
                        self.notify()
                        continue
                    now = await changes.data_version(conn)
                except Exception as error:
                    logger.warning("could not look for other processes' task runs: %s", error)
                    if conn is not None:
                        await conn.close()
                    conn = None
                    continue
                if now != version:
                    version = now
                    self.changes.publish_local(ANY_RUN)
                    self.notify()
        finally:
            if conn is not None:
                await conn.close()

    async def _claims(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.work_sweep_interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._claim_all()
            except Exception:
                # The next wake-up or sweep tries again; a database outage must not end the
                # server's background work.
                logger.exception("claiming task runs for task workers failed")

    async def _claim_all(self) -> None:
        for subscription in self.subscriptions.all():
            if subscription.room > 0 and subscription.work_queue_names:
                async with self.claiming:
                    await self._claim_for(subscription)

    async def _claim_for(self, subscription: TaskSubscription) -> None:
        claimed: list[TaskAssignment] = []
        async with self._db.write() as conn:
            wanted = await self._free_slots(conn, subscription)
            if wanted <= 0:
                return
            waiting = await task_leases.lock_waiting(conn, subscription.work_queue_names, wanted)
            for locked in waiting:
                assignment = await self._claim(conn, locked, subscription)
                if assignment is not None:
                    claimed.append(assignment)
        await self.hand_over(subscription, claimed)

    def serves(self, task_key: str) -> bool:
        """Whether a task worker subscribed here serves ``task_key``."""
        return any(task_key in s.work_queue_names for s in self.subscriptions.all())

    async def claim_created(
        self, conn: Connection, run_id: uuid.UUID, task_key: str
    ) -> tuple[TaskSubscription, TaskAssignment] | None:
        """Claims a background run in the transaction that created it, for a worker of this
        process with a free slot: the run reaches the worker without another transaction.
        Call under ``claiming``, then ``hand_over`` after the commit."""
        for subscription in self.subscriptions.all():
            if task_key not in subscription.work_queue_names or subscription.room <= 0:
                continue
            if await self._free_slots(conn, subscription) <= 0:
                continue
            locked = await task_runs.lock(conn, run_id)
            assert locked is not None  # created in this transaction
            assignment = await self._claim(conn, locked, subscription)
            return None if assignment is None else (subscription, assignment)
        return None

    async def _free_slots(self, conn: Connection, subscription: TaskSubscription) -> int:
        held = await task_leases.held_count(conn, subscription.runner_id)
        return min(subscription.room, subscription.free_slots - held)

    async def _claim(
        self, conn: Connection, locked: LockedRun, subscription: TaskSubscription
    ) -> TaskAssignment | None:
        """Moves a locked SCHEDULED run to PENDING under a new lease for ``subscription``."""
        now = self._clock.now()
        expire = now + timedelta(seconds=self.lease_seconds)
        pending = ProposedState(StateSpec(StateType.PENDING))
        # The server's own proposal presents the lease it read under the row lock, as the
        # work stream's claims do: one left from an earlier hand-out, if any.
        lease = str(locked.lease_id) if locked.lease_id else ""
        result = await propose(conn, locked, pending, now, lease_id=lease)
        if not result.written:
            return None
        lease_id = uuid.uuid4()
        await task_leases.set_lease(
            conn,
            locked.id,
            lease_id=lease_id,
            lease_expire_time=expire,
            worker_id=subscription.runner_id,
        )
        record = await task_runs.get(conn, locked.id)
        assert record is not None  # locked above, in this transaction
        return TaskAssignment(record, lease_id, expire)

    async def hand_over(
        self, subscription: TaskSubscription, claimed: list[TaskAssignment]
    ) -> None:
        """Queues committed claims on the worker's stream; call after the commit."""
        self.changed([item.run.id for item in claimed])
        refused = [item for item in claimed if not subscription.offer(item)]
        if refused:
            # The stream closed between the claim and the queueing: the runs wait for another.
            await self.give_back([item.run.id for item in refused], "the task worker left")

    async def give_back(self, run_ids: list[uuid.UUID], reason: str) -> None:
        """Makes these runs SCHEDULED again, without a lease, for another hand-out."""
        now = self._clock.now()
        moved: list[uuid.UUID] = []
        async with self._db.write() as conn:
            for run_id in run_ids:
                locked = await task_runs.lock(conn, run_id)
                if locked is None or locked.lease_id is None:
                    continue
                if await self._reschedule(conn, locked, reason, now):
                    moved.append(run_id)
        self.changed(moved)
        if moved:
            self.notify()

    async def expire_leases(self) -> int:
        """Hands out again the runs whose worker stopped heartbeating: their lease expired."""
        now = self._clock.now()
        moved: list[uuid.UUID] = []
        async with self._db.write() as conn:
            for locked in await task_leases.lock_expired(conn, now, _MAX_REAPED):
                if locked.state is not None and locked.state.type == StateType.CANCELLING:
                    # Nobody is left to stop it: it ends here.
                    if await self._end_cancelled(conn, locked, now):
                        moved.append(locked.id)
                    continue
                reason = "the task worker's lease expired: handed out again"
                if await self._reschedule(conn, locked, reason, now):
                    moved.append(locked.id)
        self.changed(moved)
        if moved:
            logger.warning("%d task runs lost their task worker and wait for another", len(moved))
            self.notify()
        return len(moved)

    async def _reschedule(
        self, conn: Connection, locked: LockedRun, reason: str, now: datetime
    ) -> bool:
        spec = StateSpec(StateType.SCHEDULED, "Rescheduled", reason, scheduled_time=now)
        lease = str(locked.lease_id) if locked.lease_id else ""
        result = await propose(conn, locked, ProposedState(spec), now, lease_id=lease)
        if result.written:
            await task_leases.clear_lease(conn, locked.id)
        return result.written

    async def _end_cancelled(self, conn: Connection, locked: LockedRun, now: datetime) -> bool:
        message = "cancelled; its task worker stopped heartbeating before it confirmed"
        spec = StateSpec(StateType.CANCELLED, message=message)
        lease = str(locked.lease_id) if locked.lease_id else ""
        result = await propose(conn, locked, ProposedState(spec), now, lease_id=lease)
        return result.written

    async def heartbeat(
        self, worker_id: uuid.UUID, run_ids: list[uuid.UUID]
    ) -> tuple[dict[uuid.UUID, StateType], datetime]:
        """Extends the leases of the worker's runs; returns the state types of those it still
        holds, and the new expiry."""
        expire = self._clock.now() + timedelta(seconds=self.lease_seconds)
        held: dict[uuid.UUID, StateType] = {}
        if run_ids:
            async with self._db.write() as conn:
                held = await task_leases.extend(conn, worker_id, run_ids, expire)
        if len(held) < len(run_ids):
            # Runs of this worker ended, perhaps through another server process: its slots
            # may be free.
            self.notify()
        return held, expire
