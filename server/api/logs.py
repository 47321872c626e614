"""LogService: batched writes, paged reads, and a follow that turns from stored to live."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Any, cast

import grpc

from runplane.server.api import logs_messages as messages
from runplane.server.api.errors import invalid_argument, not_found
from runplane.server.api.pagination import cut_page, decode_token, filter_fingerprint
from runplane.server.api.validation import page_size, parse_optional_uuid
from runplane.server.clock import Clock
from runplane.server.db import log_batches, logs
from runplane.server.db.engine import Database
from runplane.server.db.logs import LogCriteria, LogRecord
from runplane.server.hub import Hub, SubscriberOverflow
from runplane.v1 import logs_pb2, logs_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]
LogHub = Hub[tuple[LogRecord, ...]]
"""Carries each committed WriteLogs batch to the streams following logs."""

MAX_RECORDS_PER_WRITE = 10_000
_FOLLOW_PAGE_SIZE = 500


class LogServicer(logs_pb2_grpc.LogServiceServicer):
    def __init__(self, database: Database, clock: Clock, hub: LogHub) -> None:
        self._db = database
        self._clock = clock
        self._hub = hub
        self._run_order = _RunOrder()

    async def WriteLogs(
        self, request: logs_pb2.WriteLogsRequest, context: Context
    ) -> logs_pb2.WriteLogsResponse:
        if len(request.records) > MAX_RECORDS_PER_WRITE:
            raise invalid_argument("records", f"at most {MAX_RECORDS_PER_WRITE} per call")
        now = self._clock.now()
        new = [
            messages.new_log(f"records[{index}]", record, now)
            for index, record in enumerate(request.records)
        ]
        if not new:
            return logs_pb2.WriteLogsResponse(written_count=0)
        batch_id = parse_optional_uuid("batch_id", request.batch_id)
        runs = messages.distinct_runs(new)
        own = messages.own_task_runs(new)
        async with self._run_order.hold(runs):
            async with self._db.write() as conn:
                missing = set(runs) - await logs.lock_existing_flow_runs(conn, runs)
                if missing:
                    raise not_found("flow run", min(missing))
                missing = set(own) - await logs.existing_task_runs(conn, own)
                if missing:
                    raise not_found("task run", min(missing))
                await logs.order_writers(conn, runs)
                if batch_id is not None:
                    # Keyed by the batch's first run (a flow run, else a task run of its
                    # own), so one run's batches never clash with another run's, and the key
                    # goes when that run is deleted.
                    owner = runs[0] if runs else own[0]
                    applied = await log_batches.claim(
                        conn, owner, batch_id, len(new), now, task_run=not runs
                    )
                    if applied is not None:  # a retry: the batch was stored already
                        return logs_pb2.WriteLogsResponse(written_count=applied)
                stored = await logs.insert(conn, new)
            self._hub.publish(tuple(stored))
        return logs_pb2.WriteLogsResponse(written_count=len(stored))

    async def ListLogs(
        self, request: logs_pb2.ListLogsRequest, context: Context
    ) -> logs_pb2.ListLogsResponse:
        criteria = messages.criteria("filter", request.filter)
        limit = page_size("page_size", request.page_size)
        fingerprint = filter_fingerprint(request.filter)
        key = decode_token("page_token", request.page_token, fingerprint)
        after_id = messages.after_id(key, "page_token")
        async with self._db.read() as conn:
            records = await logs.list_page(conn, criteria, after_id=after_id, limit=limit + 1)
        records, next_token = cut_page(records, limit, fingerprint, lambda last: [last.id])
        return logs_pb2.ListLogsResponse(
            records=[messages.log_record(r) for r in records], next_page_token=next_token
        )

    async def FollowLogs(
        self, request: logs_pb2.FollowLogsRequest, context: Context
    ) -> AsyncIterator[logs_pb2.FollowLogsResponse]:
        """Stored records first, then live ones, each exactly once, until shutdown.

        The subscription starts before the stored records are read, so that a record
        committed in between is not missed; ``sent`` (the highest id sent) drops the live
        copies of records already read. Log writes of one run commit and are published in
        id order, so every record a live batch carries that is not yet sent has a higher id.
        A follower that falls behind the hub resumes from the database the same way.
        """
        if not request.filter.flow_run_id:
            raise invalid_argument("filter.flow_run_id", "is required")
        criteria = messages.criteria("filter", request.filter)
        assert criteria.flow_run_id is not None
        async with self._db.read() as conn:
            if not await logs.existing_flow_runs(conn, [criteria.flow_run_id]):
                raise not_found("flow run", criteria.flow_run_id)
        sent = 0
        while True:
            subscription = self._hub.subscribe()
            events = cast(AsyncGenerator[tuple[LogRecord, ...], None], aiter(subscription))
            stored = self._stored(criteria, after_id=sent)
            try:
                await self._hub.caught_up()
                async for record in stored:
                    sent = record.id
                    yield logs_pb2.FollowLogsResponse(record=messages.log_record(record))
                async for batch in events:
                    for record in batch:
                        if record.id > sent and criteria.matches(record):
                            sent = record.id
                            yield logs_pb2.FollowLogsResponse(record=messages.log_record(record))
                return
            except SubscriberOverflow:
                continue
            finally:
                await stored.aclose()
                await events.aclose()
                subscription.close()

    async def _stored(
        self, criteria: LogCriteria, *, after_id: int
    ) -> AsyncGenerator[LogRecord, None]:
        """Every stored record after ``after_id``, a page per short read transaction."""
        while True:
            async with self._db.read() as conn:
                page = await logs.list_page(
                    conn, criteria, after_id=after_id, limit=_FOLLOW_PAGE_SIZE
                )
            for record in page:
                yield record
            if len(page) < _FOLLOW_PAGE_SIZE:
                return
            after_id = page[-1].id


class _RunOrder:
    """Makes the writes of one flow run in this process commit and publish one at a time.

    Committing in id order is not enough for followers, which take the highest id sent
    as their place: a batch published after a later one would be skipped. Runs share a
    lock when their ids hash alike, which only costs some waiting.
    """

    def __init__(self, stripes: int = 64) -> None:
        self._locks = [asyncio.Lock() for _ in range(stripes)]

    @contextlib.asynccontextmanager
    async def hold(self, flow_run_ids: Iterable[uuid.UUID]) -> AsyncIterator[None]:
        # Always taken in index order, so that writers of several runs cannot deadlock.
        indexes = sorted({run_id.int % len(self._locks) for run_id in flow_run_ids})
        async with contextlib.AsyncExitStack() as stack:
            for index in indexes:
                await stack.enter_async_context(self._locks[index])
            yield
