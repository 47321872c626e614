"""Client methods for concurrency limits and their slot leases."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from runplane._client import convert
from runplane._client.models import ConcurrencyLease, ConcurrencyLimit, Page
from runplane._client.transport import Transport
from runplane.v1 import concurrency_pb2


class ConcurrencyAPI(Transport):
    """Named and tag-based concurrency limits, and leases on their slots."""

    async def create_concurrency_limit(
        self, name: str, limit: int, *, slot_decay_per_second: float = 0.0
    ) -> ConcurrencyLimit:
        """Creates a limit, or sets the limit and decay of the existing one with that name.

        With ``slot_decay_per_second`` the limit is a rate limit: the slots taken of it are
        freed at that rate over time, not on release.
        """
        request = concurrency_pb2.CreateConcurrencyLimitRequest(
            name=name, limit=limit, slot_decay_per_second=slot_decay_per_second
        )
        response = await self._unary(self.stubs.concurrency.CreateConcurrencyLimit, request)
        return convert.concurrency_limit_from_pb(response.concurrency_limit)

    async def get_concurrency_limit(self, name: str) -> ConcurrencyLimit:
        request = concurrency_pb2.GetConcurrencyLimitRequest(name=name)
        response = await self._unary(self.stubs.concurrency.GetConcurrencyLimit, request)
        return convert.concurrency_limit_from_pb(response.concurrency_limit)

    async def list_concurrency_limits(
        self, *, page_size: int = 0, page_token: str | None = None
    ) -> Page[ConcurrencyLimit]:
        """Limits ordered by name."""
        request = concurrency_pb2.ListConcurrencyLimitsRequest(
            page_size=page_size, page_token=page_token or ""
        )
        response = await self._unary(self.stubs.concurrency.ListConcurrencyLimits, request)
        items = [convert.concurrency_limit_from_pb(item) for item in response.concurrency_limits]
        return Page(items, response.next_page_token or None)

    async def all_concurrency_limits(self) -> list[ConcurrencyLimit]:
        """Every limit, ordered by name: all pages of ``list_concurrency_limits``."""
        limits: list[ConcurrencyLimit] = []
        token: str | None = None
        while True:
            page = await self.list_concurrency_limits(page_size=200, page_token=token)
            limits.extend(page)
            token = page.next_page_token
            if not token:
                return limits

    async def delete_concurrency_limit(self, name: str) -> None:
        """Deletes a limit and its leases."""
        request = concurrency_pb2.DeleteConcurrencyLimitRequest(name=name)
        await self._unary(self.stubs.concurrency.DeleteConcurrencyLimit, request)

    async def acquire_concurrency_slots(
        self,
        names: Iterable[str],
        *,
        holder_id: str,
        lease_duration: timedelta | None = None,
        request_id: UUID | None = None,
        occupy: int = 1,
    ) -> ConcurrencyLease:
        """Takes ``occupy`` slots of each named limit, all or none, under a lease (30 s by
        default). Asking for more slots than a limit has raises ``InvalidArgument``.

        ``request_id`` (a new UUID when not given) makes a retried call return the same lease.
        """
        request = concurrency_pb2.AcquireConcurrencySlotsRequest(
            names=names,
            occupy=occupy,
            holder_id=holder_id,
            lease_duration=convert.duration_to_pb(lease_duration),
            request_id=str(request_id or uuid.uuid4()),
        )
        response = await self._unary(self.stubs.concurrency.AcquireConcurrencySlots, request)
        return convert.concurrency_lease_from_pb(response)

    async def renew_concurrency_lease(
        self, lease_id: UUID, *, lease_duration: timedelta | None = None
    ) -> datetime:
        """Extends a lease; returns its new expiry."""
        request = concurrency_pb2.RenewConcurrencyLeaseRequest(
            lease_id=str(lease_id), lease_duration=convert.duration_to_pb(lease_duration)
        )
        response = await self._unary(self.stubs.concurrency.RenewConcurrencyLease, request)
        return convert.timestamp_from_pb(response.lease_expire_time)

    async def release_concurrency_slots(self, lease_id: UUID) -> None:
        """Releases a lease's slots; releasing twice is harmless."""
        request = concurrency_pb2.ReleaseConcurrencySlotsRequest(lease_id=str(lease_id))
        await self._unary(self.stubs.concurrency.ReleaseConcurrencySlots, request)
