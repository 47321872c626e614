"""Pushes due runs to the runners subscribed to this server, the moment they are due.

One task does all the claiming of this process, so the free slots of its subscribers are
never counted twice. It wakes when:

- something in this process makes a run due or cancels one (:meth:`notify_work`,
  :meth:`notify_cancelling`: RunDeployment, CreateFlowRun with a work pool,
  ReleaseAssignment, the reapers, a new subscription);
- a run handed to one of its subscribers let its slot go (:meth:`notify_run_state`: it is
  final, SCHEDULED again or Suspended), or that subscriber heartbeats (its runs may have
  ended through another server process): the subscriber's runs are read back, then claimed
  for up to its free slots (see :mod:`runplane.server.delivery.capacity`);
- a run left PENDING, RUNNING or CANCELLING, which may free a slot of its deployment's
  concurrency limit for a run waiting in AwaitingConcurrencySlot, or room under the
  concurrency limit of a work pool or queue (:meth:`notify_slots_freed`, here or on another
  server process);
- another server process on the same PostgreSQL says so (LISTEN/NOTIFY, ids and names only);
- the earliest future scheduled run of its pools becomes due (one timer);
- the slow sweep comes round, a safety net for anything missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

from runplane.server.clock import Clock
from runplane.server.cluster_notices import (
    Cancelling,
    Notice,
    PoolsAnnounced,
    SlotsFreed,
    WorkDue,
    encode,
)
from runplane.server.db import held_runs
from runplane.server.db.delivery_dialects import DeliveryDialect, earliest_scheduled
from runplane.server.db.engine import Database
from runplane.server.db.run_records import StateRecord
from runplane.server.delivery.capacity import SlotLedger, holds_slot
from runplane.server.delivery.claims import Claimant, claim, give_back
from runplane.server.delivery.presence import Presence
from runplane.server.delivery.subscriptions import SubscriptionRegistry, WorkSubscription
from runplane.server.delivery.waiters import make_waiters_due
from runplane.server.delivery.work_items import Cancel, WorkItem
from runplane.server.delivery.written import announcing
from runplane.server.hub import Hub
from runplane.server.orchestration.states import StateType
from runplane.server.settings import ServerSettings
from runplane.server.transitions.events import FlowRunEvent

logger = logging.getLogger(__name__)

_MAX_SWEPT_CANCELS = 1000


def _stopping() -> bool:
    """Whether this task was asked to stop, even when the request was caught on the way."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class WorkDispatcher:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        subscriptions: SubscriptionRegistry[WorkItem],
        settings: ServerSettings,
        dialect: DeliveryDialect,
        events: Hub[FlowRunEvent] | None = None,
    ) -> None:
        self._db = database
        self._events: Hub[FlowRunEvent] = events if events is not None else Hub()
        self._clock = clock
        self._subscriptions = subscriptions
        self._settings = settings
        self._dialect = dialect
        self._wake = asyncio.Event()
        self._dirty: set[str] = set()
        self._everything = True
        self._cancels: set[uuid.UUID] = set()
        self._outbox: list[str] = []
        self._slots = SlotLedger()
        self._token = uuid.uuid4().hex[:16]
        self._next_due: datetime | None = None
        self._rotation = 0
        self._slots_freed = False
        # Pools whose last claim found a concurrency limit on the pool or a queue.
        self._limited_pools: set[str] = set()
        # Announcements outlive two missed sweeps.
        self._presence = Presence(self._token, 3 * settings.work_sweep_interval)
        self._announce = True

    def limits_elsewhere(self) -> bool:
        """Whether another server process has a subscribed pool with a concurrency limit."""
        return self._presence.limited_elsewhere()

    @property
    def next_due(self) -> datetime | None:
        """When the timer wakes the next pass for a scheduled run (None: no such run)."""
        return self._next_due

    # --- hooks ------------------------------------------------------------------------------

    def notify_work(self, pool: str | None = None) -> None:
        """A run of ``pool`` (any pool when None) may have become due; call after the commit."""
        self._mark(pool)
        self._outbox.append(encode(WorkDue(sender=self._token, pool=pool or None)))

    def notify_slots_freed(self) -> None:
        """A flow run left PENDING, RUNNING or CANCELLING; call after the commit."""
        self._slots_freed = True
        self._limits_freed()

    def _limits_freed(self) -> None:
        # Only pools with limits may have runs waiting for room: the others cost nothing here.
        self._dirty.update(self._limited_pools)
        self._wake.set()

    def notify_run_state(self, run_id: uuid.UUID, state_type: int | None, state_name: str) -> None:
        """A run's state after a commit (None: the run was deleted); when the run no longer
        holds a slot of the subscriber it was handed to, that subscriber may take another."""
        if holds_slot(state_type, state_name):
            return
        session_id = self._slots.maybe_freed(run_id)
        subscription = self._subscriptions.get(session_id) if session_id else None
        if subscription is not None:
            self._mark(subscription.work_pool_name)

    def notify_cancelling(self, run_id: uuid.UUID) -> None:
        """A run became CANCELLING; its runner is told on its stream. Call after the commit."""
        self._cancels.add(run_id)
        self._wake.set()
        self._outbox.append(encode(Cancelling(sender=self._token, run_id=run_id)))

    def wake(self) -> None:
        """Looks at every pool of this server's subscribers now (e.g. after moving a clock)."""
        self._mark(None)

    def _mark(self, pool: str | None) -> None:
        if pool:
            self._dirty.add(pool)
        else:
            self._everything = True
        self._wake.set()

    def on_notice(self, notice: Notice) -> None:
        """A notice from another server process; those of other kinds are not for delivery."""
        if notice.sender == self._token:
            return
        if isinstance(notice, WorkDue):
            self._mark(notice.pool)
        elif isinstance(notice, SlotsFreed):
            # The deployment slots were seen to by the server where the run ended; the limits
            # of pools and queues hold across servers, so this server's limited pools look.
            self._limits_freed()
        elif isinstance(notice, PoolsAnnounced):
            self._presence.heard(notice)
        elif isinstance(notice, Cancelling):
            self._cancels.add(notice.run_id)
            self._wake.set()

    # --- subscriptions ----------------------------------------------------------------------

    def has_runner(self, pool: str, runtime: str | None = None) -> bool:
        """Whether a runner is subscribed to ``pool`` (and runs ``runtime``, unless None) here
        or, as announced, on another server."""
        here = self._subscriptions.for_pool(pool)
        if any(runtime is None or runtime in s.runtimes for s in here):
            return True
        return self._presence.elsewhere(pool, runtime)

    async def subscribed(self, subscription: WorkSubscription[WorkItem]) -> None:
        """Counts the subscriber's slots: its free slots, and the runs of the leases it
        presents that it still holds, which move to this subscription."""
        held: set[uuid.UUID] = set()
        if subscription.held_lease_ids:
            async with self._db.write() as conn:
                adopted = await held_runs.adopt_leases(
                    conn,
                    subscription.held_lease_ids,
                    subscription.runner_id,
                    subscription.session_id,
                )
                held = await held_runs.still_holding(conn, subscription.session_id, adopted)
        self._slots.open(subscription.session_id, subscription.free_slots, held)
        self._announce = True
        self._mark(subscription.work_pool_name)

    def unsubscribed(self, subscription: WorkSubscription[WorkItem]) -> None:
        self._slots.close(subscription.session_id)
        self._announce = True

    def heartbeat(self, subscription: WorkSubscription[WorkItem]) -> None:
        """The subscriber heartbeats, often right after a run ended: a run that ended through
        another server process is noticed here. What it lists or declares counts for nothing."""
        slots = self._slots.get(subscription.session_id)
        if slots is None:
            return
        if slots.held:
            slots.stale = True
        self._mark(subscription.work_pool_name)

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        last_sweep = loop.time()
        while True:
            await self._sleep(self._delay(loop.time() - last_sweep))
            self._wake.clear()
            if loop.time() - last_sweep >= self._settings.work_sweep_interval:
                last_sweep = loop.time()
                self._everything = True
                self._announce = True
                self._slots.recount_all()
                await self._sweep_cancels()
            try:
                async with announcing(self._db, self._events) as written:
                    await self._pass()
                if written.freed_slots:  # an assignment given back
                    self.notify_slots_freed()
                self.notify_written(written.states)
            except Exception as error:
                if _stopping():
                    # The cancellation that stops the server came out of a database driver as
                    # an error of its own: retrying would keep the server from stopping.
                    raise asyncio.CancelledError from error
                logger.exception("work delivery pass failed; retrying on the next wake")

    def _delay(self, since_sweep: float) -> float:
        delay = self._settings.work_sweep_interval - since_sweep
        if self._next_due is not None:
            delay = min(delay, (self._next_due - self._clock.now()).total_seconds())
        return max(delay, 0.0)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _pass(self) -> None:
        # One instant splits the runs: those due by it are claimed in this pass (all pools look
        # when the timer's run is due), and the next timer is the earliest due after it. The
        # timer may fire a hair early, and runs fall due while a pass runs: none falls between.
        started = self._clock.now()
        if self._next_due is not None and self._next_due <= started:
            self._everything = True
        if self._slots_freed:
            self._slots_freed = False
            if self.limits_elsewhere():
                self._outbox.append(encode(SlotsFreed(sender=self._token)))
            await self._make_waiters_due()
        if self._announce:
            self._announce = False
            runtimes = self._runtimes_by_pool()
            announced = self._local_pools()
            self._outbox.extend(
                self._presence.announcements(announced, self._limited_pools, runtimes)
            )
        outbox, self._outbox = self._outbox, []
        await self._dialect.publish(outbox)
        # The subscribers are read after the last await before the marks are taken: a runner
        # that subscribes during an await (publishing is a round trip on PostgreSQL) marks its
        # pool then, and a list read before it came would drop that mark with its pool.
        local = self._local_pools()
        pools = local if self._everything else [p for p in local if p in self._dirty]
        self._everything = False
        self._dirty.clear()
        for pool in pools:
            await self._deliver(pool)
        cancels, self._cancels = self._cancels, set()
        if cancels:
            await self._push_cancels(cancels)
        async with self._db.read() as conn:
            self._next_due = await earliest_scheduled(conn, local, started)

    def _local_pools(self) -> list[str]:
        """The pools of this server's subscribers."""
        return sorted({s.work_pool_name for s in self._subscriptions.all()})

    def _runtimes_by_pool(self) -> dict[str, set[str]]:
        """The runtimes this server's subscribers run, by pool."""
        runtimes: dict[str, set[str]] = {}
        for subscription in self._subscriptions.all():
            runtimes.setdefault(subscription.work_pool_name, set()).update(subscription.runtimes)
        return runtimes

    async def _make_waiters_due(self) -> None:
        for pool in await make_waiters_due(self._db, self._clock):
            self.notify_work(pool)

    def notify_written(self, states: Iterable[tuple[uuid.UUID, StateRecord]]) -> None:
        """States the server's own work wrote (see :mod:`runplane.server.delivery.written`)."""
        for run_id, state in states:
            self.notify_run_state(run_id, state.type, state.name)

    async def _deliver(self, pool: str) -> None:
        """Claims for the pool's subscribers in turns until none has room or no run is due."""
        subscribers = self._subscriptions.for_pool(pool)
        self._rotation += 1
        if subscribers:
            shift = self._rotation % len(subscribers)
            subscribers = subscribers[shift:] + subscribers[:shift]
        more = True
        while more:
            more = False
            for subscription in subscribers:
                if subscription.closed or subscription.session_id not in self._slots:
                    continue
                limit = min(await self._free_slots(subscription.session_id), subscription.room)
                if limit > 0 and await self._claim_for(subscription, limit):
                    more = True

    async def _free_slots(self, session_id: uuid.UUID) -> int:
        """The subscriber's free slots, after reading back its runs if one may have ended."""
        run_ids = self._slots.to_recount(session_id)
        if run_ids:
            async with self._db.read() as conn:
                still = await held_runs.still_holding(conn, session_id, run_ids)
            self._slots.counted(session_id, run_ids, still)
        slots = self._slots.get(session_id)
        return 0 if slots is None else slots.free

    async def _claim_for(self, subscription: WorkSubscription[WorkItem], limit: int) -> bool:
        """Claims up to ``limit`` runs and queues them; True when more may be due."""
        claimant = Claimant(
            subscription.work_pool_name,
            subscription.work_queue_names,
            subscription.runner_id,
            subscription.session_id,
            subscription.runtimes,
        )
        now = self._clock.now()
        result = await claim(
            self._db, self._dialect, claimant, limit, now, self._settings.work_lease_seconds
        )
        pool = subscription.work_pool_name
        if result.limited != (pool in self._limited_pools):
            if result.limited:
                self._limited_pools.add(pool)
            else:
                self._limited_pools.discard(pool)
            # The other servers learn of it, to say when runs end (see notify_slots_freed).
            self._announce = True
            self._wake.set()
        for claimed in result.claimed:
            self._slots.handed_out(subscription.session_id, claimed.run_id)
            if not subscription.offer(claimed.item):
                self._slots.released(claimed.run_id)
                reason = "the runner's stream closed before the run was sent"
                await give_back(self._db, claimed.run_id, claimed.lease_id, now, reason)
        return result.candidates >= limit

    async def _push_cancels(self, run_ids: Iterable[uuid.UUID]) -> None:
        async with self._db.read() as conn:
            holders = await held_runs.holders(conn, list(run_ids))
        for run_id, holder in holders.items():
            if holder.state_type == StateType.CANCELLING and holder.runner_session_id is not None:
                self._send_cancel(run_id, holder.runner_session_id)

    def _send_cancel(self, run_id: uuid.UUID, session_id: uuid.UUID) -> None:
        subscription = self._subscriptions.get(session_id)
        if subscription is not None:
            subscription.offer(Cancel(run_id, "the run is cancelling"))

    async def _sweep_cancels(self) -> None:
        sessions = self._slots.sessions()
        try:
            async with self._db.read() as conn:
                held = await held_runs.cancelling_held_by(conn, sessions, _MAX_SWEPT_CANCELS)
        except Exception:
            logger.exception("looking for cancelling runs failed")
            return
        for run_id, session_id in held:
            self._send_cancel(run_id, session_id)
