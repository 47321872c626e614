"""Concurrency limits and the leases on their slots (concurrency.proto)."""

from __future__ import annotations

from uuid import UUID

from runplane._client.convert.common import (
    duration_field,
    duration_to_pb,
    id_to_pb,
    timestamp_field,
    timestamp_to_pb,
    uuid_from_pb,
)
from runplane._client.models import ConcurrencyLease, ConcurrencyLimit
from runplane.v1 import concurrency_pb2


def concurrency_limit_to_pb(limit: ConcurrencyLimit) -> concurrency_pb2.ConcurrencyLimit:
    return concurrency_pb2.ConcurrencyLimit(
        id=str(limit.id),
        name=limit.name,
        limit=limit.limit,
        active_slots=limit.active_slots,
        create_time=timestamp_to_pb(limit.create_time),
        slot_decay_per_second=limit.slot_decay_per_second,
    )


def concurrency_limit_from_pb(message: concurrency_pb2.ConcurrencyLimit) -> ConcurrencyLimit:
    return ConcurrencyLimit(
        id=UUID(message.id),
        name=message.name,
        limit=message.limit,
        active_slots=message.active_slots,
        create_time=timestamp_field(message, "create_time"),
        slot_decay_per_second=message.slot_decay_per_second,
    )


def concurrency_lease_to_pb(
    lease: ConcurrencyLease,
) -> concurrency_pb2.AcquireConcurrencySlotsResponse:
    return concurrency_pb2.AcquireConcurrencySlotsResponse(
        granted=lease.granted,
        lease_id=id_to_pb(lease.lease_id),
        lease_expire_time=timestamp_to_pb(lease.lease_expire_time),
        retry_after=duration_to_pb(lease.retry_after),
    )


def concurrency_lease_from_pb(
    message: concurrency_pb2.AcquireConcurrencySlotsResponse,
) -> ConcurrencyLease:
    return ConcurrencyLease(
        granted=message.granted,
        lease_id=uuid_from_pb(message.lease_id),
        lease_expire_time=timestamp_field(message, "lease_expire_time"),
        retry_after=duration_field(message, "retry_after"),
    )
