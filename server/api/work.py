"""WorkService: work pools and queues, and the stream that delivers runs to runners."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc

from runplane.server.api import work_messages as messages
from runplane.server.api.deployment_requests import MAX_DESCRIPTION_LENGTH, resource_name
from runplane.server.api.errors import (
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
    shutting_down,
)
from runplane.server.api.pagination import cut_page, decode_token, filter_fingerprint
from runplane.server.api.validation import (
    optional_name,
    optional_text,
    page_size,
    parse_uuid,
    parse_uuids,
    runtime_names,
)
from runplane.server.api.work_requests import (
    concurrency_limit,
    parse_pool_update,
    parse_queue_update,
)
from runplane.server.clock import Clock
from runplane.server.db import run_leases, scheduled_runs, work_pools
from runplane.server.db.engine import Database
from runplane.server.delivery.dispatcher import WorkDispatcher
from runplane.server.delivery.subscriptions import IDLE, SubscriptionRegistry
from runplane.server.delivery.work_items import Assignment, Cancel, WorkItem
from runplane.server.orchestration import TERMINAL_TYPES, StateType
from runplane.server.settings import ServerSettings
from runplane.server.transitions.stored_states import scheduled_details
from runplane.v1 import work_pb2, work_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]

HEARTBEAT_SECONDS = 5.0
MAX_REASON_LENGTH = 10_000
MAX_HELD_RUNS = 10_000


class WorkServicer(work_pb2_grpc.WorkServiceServicer):
    def __init__(
        self,
        database: Database,
        clock: Clock,
        subscriptions: SubscriptionRegistry[WorkItem],
        settings: ServerSettings,
        dispatcher: WorkDispatcher,
    ) -> None:
        self._db = database
        self._clock = clock
        self._subscriptions = subscriptions
        self._ping_interval = settings.work_ping_interval
        self._lease_seconds = settings.work_lease_seconds
        self._settings = settings
        self._dispatcher = dispatcher

    # --- pools and queues -----------------------------------------------------------------

    async def CreateWorkPool(
        self, request: work_pb2.CreateWorkPoolRequest, context: Context
    ) -> work_pb2.CreateWorkPoolResponse:
        given = request.work_pool
        pool = work_pools.NewWorkPool(
            name=resource_name("work_pool.name", given.name),
            description=optional_text(
                "work_pool.description", given.description, MAX_DESCRIPTION_LENGTH
            ),
            paused=given.paused,
            concurrency_limit=concurrency_limit(
                "work_pool.concurrency_limit",
                given.HasField("concurrency_limit"),
                given.concurrency_limit,
            ),
        )
        async with self._db.write() as conn:
            record = await work_pools.insert_pool(conn, pool, self._clock.now())
        if record is None:
            raise already_exists("work pool", pool.name)
        count = self._subscriptions.count(record.name)
        return work_pb2.CreateWorkPoolResponse(work_pool=messages.work_pool(record, count))

    async def GetWorkPool(
        self, request: work_pb2.GetWorkPoolRequest, context: Context
    ) -> work_pb2.GetWorkPoolResponse:
        name = resource_name("name", request.name)
        async with self._db.read() as conn:
            record = await work_pools.get_pool(conn, name)
        if record is None:
            raise not_found("work pool", name)
        count = self._subscriptions.count(record.name)
        return work_pb2.GetWorkPoolResponse(work_pool=messages.work_pool(record, count))

    async def ListWorkPools(
        self, request: work_pb2.ListWorkPoolsRequest, context: Context
    ) -> work_pb2.ListWorkPoolsResponse:
        limit = page_size("page_size", request.page_size)
        fingerprint = filter_fingerprint()
        key = decode_token("page_token", request.page_token, fingerprint)
        if key is not None and (len(key) != 1 or not isinstance(key[0], str)):
            raise invalid_argument("page_token", "is not a token returned by this server")
        async with self._db.read() as conn:
            records = await work_pools.list_pools_page(
                conn, after_name=key[0] if key else None, limit=limit + 1
            )
        records, next_token = cut_page(records, limit, fingerprint, lambda last: [last.name])
        pools = [messages.work_pool(r, self._subscriptions.count(r.name)) for r in records]
        return work_pb2.ListWorkPoolsResponse(work_pools=pools, next_page_token=next_token)

    async def DeleteWorkPool(
        self, request: work_pb2.DeleteWorkPoolRequest, context: Context
    ) -> work_pb2.DeleteWorkPoolResponse:
        name = resource_name("name", request.name)
        async with self._db.write() as conn:
            if not await work_pools.delete_pool(conn, name):
                raise not_found("work pool", name)
        return work_pb2.DeleteWorkPoolResponse()

    async def UpdateWorkPool(
        self, request: work_pb2.UpdateWorkPoolRequest, context: Context
    ) -> work_pb2.UpdateWorkPoolResponse:
        if not request.HasField("work_pool"):
            raise invalid_argument("work_pool", "is required")
        update = parse_pool_update(request.work_pool, request.update_mask)
        async with self._db.write() as conn:
            if not await work_pools.update_pool(conn, update.name, update.changes):
                raise not_found("work pool", update.name)
            record = await work_pools.get_pool(conn, update.name)
        assert record is not None  # updated above
        # Claims read the pool's rules afresh: a resumed pool or a raised or removed limit
        # lets due runs through, and its runners should not wait for the sweep to get them.
        self._dispatcher.notify_work(record.name)
        count = self._subscriptions.count(record.name)
        return work_pb2.UpdateWorkPoolResponse(work_pool=messages.work_pool(record, count))

    async def CreateWorkQueue(
        self, request: work_pb2.CreateWorkQueueRequest, context: Context
    ) -> work_pb2.CreateWorkQueueResponse:
        given = request.work_queue
        name = resource_name("work_queue.name", given.name)
        pool_name = resource_name("work_queue.work_pool_name", given.work_pool_name)
        if given.priority < 0:
            raise invalid_argument("work_queue.priority", "must not be negative")
        limit = concurrency_limit(
            "work_queue.concurrency_limit",
            given.HasField("concurrency_limit"),
            given.concurrency_limit,
        )
        async with self._db.write() as conn:
            pool = await work_pools.get_pool(conn, pool_name, for_update=True)
            if pool is None:
                raise not_found("work pool", pool_name)
            if await work_pools.get_queue(conn, pool_name, name) is None:
                # Priority 0 (unset) puts the queue after the pool's others.
                priority = given.priority or await work_pools.next_priority(conn, pool.id)
                await work_pools.insert_queue(
                    conn, pool.id, name, priority, limit, paused=given.paused
                )
            record = await work_pools.get_queue(conn, pool_name, name)
        assert record is not None  # found or created above
        return work_pb2.CreateWorkQueueResponse(work_queue=messages.work_queue(record))

    async def ListWorkQueues(
        self, request: work_pb2.ListWorkQueuesRequest, context: Context
    ) -> work_pb2.ListWorkQueuesResponse:
        pool_name = resource_name("work_pool_name", request.work_pool_name)
        async with self._db.read() as conn:
            if await work_pools.get_pool(conn, pool_name) is None:
                raise not_found("work pool", pool_name)
            records = await work_pools.list_queues(conn, pool_name)
        return work_pb2.ListWorkQueuesResponse(
            work_queues=[messages.work_queue(r) for r in records]
        )

    async def UpdateWorkQueue(
        self, request: work_pb2.UpdateWorkQueueRequest, context: Context
    ) -> work_pb2.UpdateWorkQueueResponse:
        if not request.HasField("work_queue"):
            raise invalid_argument("work_queue", "is required")
        update = parse_queue_update(request.work_queue, request.update_mask)
        async with self._db.write() as conn:
            if not await work_pools.update_queue(
                conn, update.work_pool_name, update.name, update.changes
            ):
                if await work_pools.get_pool(conn, update.work_pool_name) is None:
                    raise not_found("work pool", update.work_pool_name)
                raise not_found("work queue", f"{update.work_pool_name}/{update.name}")
            record = await work_pools.get_queue(conn, update.work_pool_name, update.name)
        assert record is not None  # updated above
        # As for pools: a resumed queue, a raised limit or a new priority can change which
        # runs the pool's runners get now.
        self._dispatcher.notify_work(record.work_pool_name)
        return work_pb2.UpdateWorkQueueResponse(work_queue=messages.work_queue(record))

    # --- the work stream ------------------------------------------------------------------

    async def SubscribeWork(
        self, request: work_pb2.SubscribeWorkRequest, context: Context
    ) -> AsyncIterator[work_pb2.SubscribeWorkResponse]:
        pool_name = resource_name("work_pool_name", request.work_pool_name)
        queue_names = [
            resource_name(f"work_queue_names[{i}]", name)
            for i, name in enumerate(request.work_queue_names)
        ]
        runner_name = optional_name("runner_name", request.runner_name) or ""
        if request.free_slots < 0:
            raise invalid_argument("free_slots", "must not be negative")
        if len(request.held_lease_ids) > MAX_HELD_RUNS:
            raise invalid_argument("held_lease_ids", f"at most {MAX_HELD_RUNS} leases")
        held = parse_uuids("held_lease_ids", request.held_lease_ids)
        runtimes = runtime_names("runtimes", request.runtimes)
        if self._subscriptions.closed:
            # Answering with `started` and then `reconnect` would invite an immediate retry,
            # and so a busy loop for as long as the shutdown lasts; UNAVAILABLE means back off.
            raise shutting_down()
        async with self._db.write() as conn:
            await work_pools.create_or_get_pool(conn, pool_name, self._clock.now())
        subscription = self._subscriptions.open(
            runner_name=runner_name,
            work_pool_name=pool_name,
            work_queue_names=queue_names,
            free_slots=request.free_slots,
            held_lease_ids=held,
            runtimes=runtimes,
        )
        reconnect_time = self._clock.now() + self._settings.reconnect_delay()
        # Leaving the loop in any way, cancellation included, ends the subscription; the
        # CancelledError itself propagates.
        try:
            # Slots are counted and held leases adopted before `started` is sent: a runner
            # that reads it may heartbeat at once, and a cancel of an adopted run proposed
            # right after must reach this subscription, not the one the runner left.
            await self._dispatcher.subscribed(subscription)
            yield messages.started(
                subscription.session_id,
                subscription.runner_id,
                HEARTBEAT_SECONDS,
                self._settings.heartbeat_timeout,
            )
            while True:
                remaining = (reconnect_time - self._clock.now()).total_seconds()
                if remaining <= 0:
                    yield messages.reconnect("the stream is old: subscribe again to rebalance")
                    return
                item = await subscription.next_item(min(self._ping_interval, remaining))
                if isinstance(item, Assignment | Cancel):
                    yield messages.work_item(item)
                elif item == IDLE:
                    if self._clock.now() < reconnect_time:
                        yield messages.ping(self._clock.now())
                else:
                    yield messages.reconnect("the server is shutting down")
                    return
        finally:
            self._subscriptions.remove(subscription)
            self._dispatcher.unsubscribed(subscription)

    async def Heartbeat(
        self, request: work_pb2.HeartbeatRequest, context: Context
    ) -> work_pb2.HeartbeatResponse:
        runner_id = parse_uuid("runner_id", request.runner_id)
        session_id = parse_uuid("session_id", request.session_id)
        if len(request.running_flow_run_ids) > MAX_HELD_RUNS:
            raise invalid_argument("running_flow_run_ids", f"at most {MAX_HELD_RUNS} runs")
        run_ids = list(
            dict.fromkeys(parse_uuids("running_flow_run_ids", request.running_flow_run_ids))
        )
        if request.free_slots < 0:
            raise invalid_argument("free_slots", "must not be negative")
        now = self._clock.now()
        lease_expire_time = now + timedelta(seconds=self._lease_seconds)
        held = []
        if run_ids:
            async with self._db.write() as conn:
                held = await run_leases.heartbeat(conn, run_ids, now, lease_expire_time)
        subscription = self._subscriptions.get(session_id)
        if subscription is not None and subscription.runner_id == runner_id:
            self._dispatcher.heartbeat(subscription)
        states = {run.id: run.state_type for run in held}
        cancel = [i for i in run_ids if states.get(i) == StateType.CANCELLING]
        finished = [i for i in run_ids if states.get(i) in TERMINAL_TYPES]
        # A SCHEDULED run was given back (released, or its lease expired): whoever held it
        # must not go on with it.
        unknown = [i for i in run_ids if i not in states or states[i] == StateType.SCHEDULED]
        response = work_pb2.HeartbeatResponse(
            cancel_flow_run_ids=[str(i) for i in cancel],
            unknown_flow_run_ids=[str(i) for i in unknown],
            finished_flow_run_ids=[str(i) for i in finished],
        )
        response.lease_expire_time.FromDatetime(lease_expire_time)
        return response

    async def ReleaseAssignment(
        self, request: work_pb2.ReleaseAssignmentRequest, context: Context
    ) -> work_pb2.ReleaseAssignmentResponse:
        run_id = parse_uuid("flow_run_id", request.flow_run_id)
        lease_id = parse_uuid("lease_id", request.lease_id)
        reason = optional_text("reason", request.reason, MAX_REASON_LENGTH)
        async with self._db.write() as conn:
            run = await run_leases.lock(conn, run_id)
            if run is None:
                raise not_found("flow run", run_id)
            if run.lease_id != lease_id:
                raise failed_precondition(
                    "STALE_LEASE", f"flow run {run_id} is not held under lease {lease_id}"
                )
            if run.state_type != StateType.PENDING:
                raise failed_precondition(
                    "NOT_PENDING", f"flow run {run_id} has started and cannot be given back"
                )
            now = self._clock.now()
            await scheduled_runs.reschedule(
                conn,
                run_id,
                previous_state_time=run.state_timestamp,
                message=f"released: {reason}" if reason else "released",
                details=scheduled_details(now),
                scheduled_time=now,
                now=now,
            )
        # A pending run holds slots of its deployment, pool and queue, and of its runner: they
        # are free again.
        self._dispatcher.notify_slots_freed()
        self._dispatcher.notify_run_state(run_id, StateType.SCHEDULED, "")
        if run.work_pool_name:
            self._dispatcher.notify_work(run.work_pool_name)
        return work_pb2.ReleaseAssignmentResponse()
