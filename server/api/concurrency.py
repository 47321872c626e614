"""ConcurrencyService: named limits, and leases that hold one slot of several limits at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc

from runplane.server.api import concurrency_messages as messages
from runplane.server.api import convert
from runplane.server.api.errors import invalid_argument, not_found
from runplane.server.api.pagination import cut_page, filter_fingerprint, name_after
from runplane.server.api.validation import page_size, parse_optional_uuid, parse_uuid, require_name
from runplane.server.clock import Clock
from runplane.server.db import concurrency
from runplane.server.db.concurrency import ConcurrencyLimitRecord, LeaseRecord
from runplane.server.db.engine import Database
from runplane.server.orchestration.slots import SlotAnswer, decay_free_time_after, decide_slots
from runplane.v1 import concurrency_pb2, concurrency_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]

RETRY_AFTER_SECONDS = 1.0


class ConcurrencyServicer(concurrency_pb2_grpc.ConcurrencyServiceServicer):
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def CreateConcurrencyLimit(
        self, request: concurrency_pb2.CreateConcurrencyLimitRequest, context: Context
    ) -> concurrency_pb2.CreateConcurrencyLimitResponse:
        name = require_name("name", request.name)
        limit = messages.limit_value("limit", request.limit)
        decay = messages.slot_decay_value(
            "slot_decay_per_second", request.slot_decay_per_second, limit
        )
        async with self._db.write() as conn:
            record, created = await concurrency.create_or_update(
                conn, name, limit, decay, self._clock.now()
            )
        return concurrency_pb2.CreateConcurrencyLimitResponse(
            concurrency_limit=messages.concurrency_limit(record), created=created
        )

    async def GetConcurrencyLimit(
        self, request: concurrency_pb2.GetConcurrencyLimitRequest, context: Context
    ) -> concurrency_pb2.GetConcurrencyLimitResponse:
        name = require_name("name", request.name)
        async with self._db.read() as conn:
            record = await concurrency.get(conn, name, self._clock.now())
        if record is None:
            raise not_found("concurrency limit", name)
        return concurrency_pb2.GetConcurrencyLimitResponse(
            concurrency_limit=messages.concurrency_limit(record)
        )

    async def ListConcurrencyLimits(
        self, request: concurrency_pb2.ListConcurrencyLimitsRequest, context: Context
    ) -> concurrency_pb2.ListConcurrencyLimitsResponse:
        limit = page_size("page_size", request.page_size)
        fingerprint = filter_fingerprint()
        after_name = name_after("page_token", request.page_token, fingerprint)
        async with self._db.read() as conn:
            records = await concurrency.list_page(
                conn, self._clock.now(), after_name=after_name, limit=limit + 1
            )
        records, next_token = cut_page(records, limit, fingerprint, lambda last: [last.name])
        return concurrency_pb2.ListConcurrencyLimitsResponse(
            concurrency_limits=[messages.concurrency_limit(r) for r in records],
            next_page_token=next_token,
        )

    async def DeleteConcurrencyLimit(
        self, request: concurrency_pb2.DeleteConcurrencyLimitRequest, context: Context
    ) -> concurrency_pb2.DeleteConcurrencyLimitResponse:
        name = require_name("name", request.name)
        async with self._db.write() as conn:
            if not await concurrency.delete(conn, name):
                raise not_found("concurrency limit", name)
        return concurrency_pb2.DeleteConcurrencyLimitResponse()

    async def AcquireConcurrencySlots(
        self, request: concurrency_pb2.AcquireConcurrencySlotsRequest, context: Context
    ) -> concurrency_pb2.AcquireConcurrencySlotsResponse:
        names = messages.limit_names("names", list(request.names))
        holder_id = require_name("holder_id", request.holder_id, messages.MAX_HOLDER_LENGTH)
        seconds = messages.lease_seconds(
            "lease_duration", request.lease_duration, request.HasField("lease_duration")
        )
        request_id = parse_optional_uuid("request_id", request.request_id)
        occupy = messages.occupy_value("occupy", request.occupy)
        return await self._acquire(
            names,
            occupy=occupy,
            holder_id=holder_id,
            lease_seconds=seconds,
            request_id=str(request_id) if request_id else None,
        )

    async def RenewConcurrencyLease(
        self, request: concurrency_pb2.RenewConcurrencyLeaseRequest, context: Context
    ) -> concurrency_pb2.RenewConcurrencyLeaseResponse:
        lease_id = parse_uuid("lease_id", request.lease_id)
        seconds = messages.lease_seconds(
            "lease_duration", request.lease_duration, request.HasField("lease_duration")
        )
        async with self._db.write() as conn:
            now = self._clock.now()
            expire_time = now + timedelta(seconds=seconds)
            if not await concurrency.renew_lease(conn, lease_id, expire_time, now):
                raise not_found("concurrency lease", lease_id)
        return concurrency_pb2.RenewConcurrencyLeaseResponse(
            lease_expire_time=convert.timestamp(expire_time)
        )

    async def ReleaseConcurrencySlots(
        self, request: concurrency_pb2.ReleaseConcurrencySlotsRequest, context: Context
    ) -> concurrency_pb2.ReleaseConcurrencySlotsResponse:
        lease_id = parse_uuid("lease_id", request.lease_id)
        async with self._db.write() as conn:
            await concurrency.delete_lease(conn, lease_id)
        return concurrency_pb2.ReleaseConcurrencySlotsResponse()

    async def _acquire(
        self,
        names: list[str],
        *,
        occupy: int,
        holder_id: str,
        lease_seconds: float,
        request_id: str | None,
    ) -> concurrency_pb2.AcquireConcurrencySlotsResponse:
        """``occupy`` slots of each existing limit, or the answer why not. The slots of limits
        without decay are held under a new lease; those of decaying limits are recorded on
        the limits, to come free over time."""
        async with self._db.write() as conn:
            now = self._clock.now()
            limits = await concurrency.lock_limits(conn, names, now)
            # Looked up after the locks: a repeat waiting on them sees the first call's lease.
            if request_id is not None:
                earlier = await concurrency.get_lease_by_request(conn, request_id)
                if earlier is not None and earlier.expire_time > now:
                    return _granted(earlier)
                if earlier is not None:
                    await concurrency.delete_lease(conn, earlier.id)
            await concurrency.delete_expired_leases(conn, [limit.id for limit in limits], now)
            decision = decide_slots((limit.usage for limit in limits), occupy)
            if decision.answer is SlotAnswer.NEVER:
                # No retry_after: a limit of 0 never grants, so waiting would not help.
                return concurrency_pb2.AcquireConcurrencySlotsResponse(granted=False)
            if decision.answer is SlotAnswer.TOO_MANY:
                raise invalid_argument("occupy", _too_many(limits, occupy))
            if decision.answer is SlotAnswer.FULL:
                wait = decision.retry_after
                return concurrency_pb2.AcquireConcurrencySlotsResponse(
                    granted=False,
                    retry_after=convert.duration(RETRY_AFTER_SECONDS if wait is None else wait),
                )
            for limit in limits:
                if limit.slot_decay_per_second > 0:
                    free_time = decay_free_time_after(
                        limit.decay_free_time, limit.slot_decay_per_second, occupy, now
                    )
                    await concurrency.take_decaying_slots(conn, limit.id, free_time)
            lease = await concurrency.insert_lease(
                conn,
                holder_id=holder_id,
                expire_time=now + timedelta(seconds=lease_seconds),
                request_id=request_id,
                limit_ids=[limit.id for limit in limits if limit.slot_decay_per_second <= 0],
                occupy=occupy,
            )
            if lease is None:
                # A concurrent repeat of this request, which held no lock (no limit exists), won.
                assert request_id is not None
                lease = await concurrency.get_lease_by_request(conn, request_id)
                assert lease is not None
            return _granted(lease)


def _too_many(limits: list[ConcurrencyLimitRecord], occupy: int) -> str:
    smaller = [f"{limit.name} ({limit.limit})" for limit in limits if limit.limit < occupy]
    return f"{occupy} slots are more than the limit {', '.join(smaller)} has: never granted"


def _granted(lease: LeaseRecord) -> concurrency_pb2.AcquireConcurrencySlotsResponse:
    return concurrency_pb2.AcquireConcurrencySlotsResponse(
        granted=True, lease_id=str(lease.id), lease_expire_time=convert.timestamp(lease.expire_time)
    )
