"""Queries on concurrency limits, their leases and the slots the leases hold.

A decaying limit (a rate limit) keeps the slots taken of it on its own row, as the time when
all of them will have decayed, not under the leases: releasing a lease frees none of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.records import _FromRow
from runplane.server.db.tables import concurrency_lease, concurrency_limit, concurrency_slot
from runplane.server.db.upsert import insert_ignoring_conflict, upsert
from runplane.server.orchestration.slots import LimitUsage, decaying_slots, whole_slots


@dataclass(frozen=True, slots=True)
class ConcurrencyLimitRecord:
    id: uuid.UUID
    name: str
    limit: int
    active_slots: int
    """Slots held now: under unexpired leases, and taken of a decaying limit not yet decayed."""
    create_time: datetime
    slot_decay_per_second: float
    decay_free_time: datetime | None
    usage: LimitUsage

    @classmethod
    def from_row(cls, row: Any, now: datetime) -> ConcurrencyLimitRecord:
        rate = float(row.slot_decay_per_second)
        usage = LimitUsage(
            limit=row.limit,
            active=int(row.leased_slots),
            decaying=decaying_slots(row.decay_free_time, rate, now),
            decay_per_second=rate,
        )
        return cls(
            id=row.id,
            name=row.name,
            limit=row.limit,
            active_slots=whole_slots(usage),
            create_time=row.create_time,
            slot_decay_per_second=rate,
            decay_free_time=row.decay_free_time,
            usage=usage,
        )


@dataclass(frozen=True, slots=True)
class LeaseRecord(_FromRow):
    id: uuid.UUID
    request_id: str | None
    holder_id: str
    expire_time: datetime


def _leased_slots(now: datetime) -> sa.ScalarSelect[int]:
    """Per limit row: the slots held under leases that have not expired."""
    return (
        sa.select(sa.func.coalesce(sa.func.sum(concurrency_slot.c.occupy), 0))
        .select_from(concurrency_slot.join(concurrency_lease))
        .where(
            concurrency_slot.c.limit_id == concurrency_limit.c.id,
            concurrency_lease.c.expire_time > now,
        )
        .scalar_subquery()
    )


def _limits_with_usage(now: datetime) -> sa.Select[Any]:
    return sa.select(concurrency_limit, _leased_slots(now).label("leased_slots"))


async def get(conn: AsyncConnection, name: str, now: datetime) -> ConcurrencyLimitRecord | None:
    query = _limits_with_usage(now).where(concurrency_limit.c.name == name)
    row = (await conn.execute(query)).first()
    return ConcurrencyLimitRecord.from_row(row, now) if row else None


async def create_or_update(
    conn: AsyncConnection, name: str, limit: int, slot_decay_per_second: float, now: datetime
) -> tuple[ConcurrencyLimitRecord, bool]:
    """The limit with this name set to ``limit`` and the decay rate, created when missing;
    True when created. A new decay rate keeps the slots held so far (see ``_set_decay``)."""
    values = {
        "id": uuid.uuid4(),
        "name": name,
        "limit": limit,
        "create_time": now,
        "slot_decay_per_second": slot_decay_per_second,
    }
    created = await upsert(conn, concurrency_limit, values, ["name"], ["limit"])
    found = await get(conn, name, now)
    assert found is not None  # inserted or updated above: the row is locked until commit
    if found.slot_decay_per_second != slot_decay_per_second:
        await _set_decay(conn, found, slot_decay_per_second, now)
        found = await get(conn, name, now)
        assert found is not None
    return found, created


async def _set_decay(
    conn: AsyncConnection, found: ConcurrencyLimitRecord, rate: float, now: datetime
) -> None:
    """Sets a new decay rate; the slots still held decay at it from now (none without decay)."""
    held = found.usage.decaying
    free_time = now + timedelta(seconds=held / rate) if rate > 0 and held > 0 else None
    await conn.execute(
        sa.update(concurrency_limit)
        .where(concurrency_limit.c.id == found.id)
        .values(slot_decay_per_second=rate, decay_free_time=free_time)
    )


async def take_decaying_slots(
    conn: AsyncConnection, limit_id: uuid.UUID, decay_free_time: datetime
) -> None:
    """Records slots taken of a decaying limit locked by ``lock_limits``: all of them decay by
    ``decay_free_time``."""
    await conn.execute(
        sa.update(concurrency_limit)
        .where(concurrency_limit.c.id == limit_id)
        .values(decay_free_time=decay_free_time)
    )


async def list_page(
    conn: AsyncConnection, now: datetime, *, after_name: str | None, limit: int
) -> list[ConcurrencyLimitRecord]:
    query = _limits_with_usage(now).order_by(concurrency_limit.c.name).limit(limit)
    if after_name is not None:
        query = query.where(concurrency_limit.c.name > after_name)
    return [ConcurrencyLimitRecord.from_row(row, now) for row in await conn.execute(query)]


async def delete(conn: AsyncConnection, name: str) -> bool:
    """Deletes the limit; the slots held of it go with it (the leases stay for their others)."""
    result = await conn.execute(
        sa.delete(concurrency_limit).where(concurrency_limit.c.name == name)
    )
    return result.rowcount > 0


async def lock_limits(
    conn: AsyncConnection, names: Collection[str], now: datetime
) -> list[ConcurrencyLimitRecord]:
    """The limits with these names, row-locked in name order so that acquirers never deadlock.

    Locking comes first, counting second: ``active_slots`` is read after the locks are held,
    so it cannot change until this transaction ends.
    """
    if not names:
        return []
    locked = (
        sa.select(concurrency_limit.c.id)
        .where(concurrency_limit.c.name.in_(list(names)))
        .order_by(concurrency_limit.c.name)
    )
    if conn.dialect.name == "postgresql":
        locked = locked.with_for_update()
    ids = list((await conn.execute(locked)).scalars())
    if not ids:
        return []
    query = _limits_with_usage(now).where(concurrency_limit.c.id.in_(ids))
    rows = await conn.execute(query.order_by(concurrency_limit.c.name))
    return [ConcurrencyLimitRecord.from_row(row, now) for row in rows]


async def delete_expired_leases(
    conn: AsyncConnection, limit_ids: Collection[uuid.UUID], now: datetime
) -> None:
    """Deletes expired leases holding slots of these limits.

    Leases another transaction is deleting are skipped rather than waited for: two
    acquirers deleting overlapping leases in different orders would deadlock, and an
    expired lease is not counted anyway.
    """
    expired = (
        sa.select(concurrency_lease.c.id)
        .where(
            concurrency_lease.c.expire_time <= now,
            concurrency_lease.c.id.in_(
                sa.select(concurrency_slot.c.lease_id).where(
                    concurrency_slot.c.limit_id.in_(list(limit_ids))
                )
            ),
        )
        .order_by(concurrency_lease.c.id)
    )
    if conn.dialect.name == "postgresql":
        expired = expired.with_for_update(skip_locked=True)
    ids = list((await conn.execute(expired)).scalars())
    if ids:
        await conn.execute(sa.delete(concurrency_lease).where(concurrency_lease.c.id.in_(ids)))


async def get_lease_by_request(conn: AsyncConnection, request_id: str) -> LeaseRecord | None:
    query = sa.select(concurrency_lease).where(concurrency_lease.c.request_id == request_id)
    row = (await conn.execute(query)).first()
    return LeaseRecord.from_row(row) if row else None


async def insert_lease(
    conn: AsyncConnection,
    *,
    holder_id: str,
    expire_time: datetime,
    request_id: str | None,
    limit_ids: Sequence[uuid.UUID],
    occupy: int = 1,
) -> LeaseRecord | None:
    """A new lease holding ``occupy`` slots of each limit; None when ``request_id`` is already
    taken."""
    lease = LeaseRecord(uuid.uuid4(), request_id, holder_id, expire_time)
    values = {
        "id": lease.id,
        "request_id": request_id,
        "holder_id": holder_id,
        "expire_time": expire_time,
    }
    if not await insert_ignoring_conflict(conn, concurrency_lease, values, ["request_id"]):
        return None
    if limit_ids:
        slots = [
            {"lease_id": lease.id, "limit_id": limit_id, "occupy": occupy} for limit_id in limit_ids
        ]
        await conn.execute(sa.insert(concurrency_slot), slots)
    return lease


async def delete_lease(conn: AsyncConnection, lease_id: uuid.UUID) -> None:
    """Deletes the lease and the slots it holds."""
    await conn.execute(sa.delete(concurrency_lease).where(concurrency_lease.c.id == lease_id))


async def renew_lease(
    conn: AsyncConnection, lease_id: uuid.UUID, expire_time: datetime, now: datetime
) -> bool:
    """Moves an unexpired lease's expiry; False when the lease is gone or expired."""
    result = await conn.execute(
        sa.update(concurrency_lease)
        .where(concurrency_lease.c.id == lease_id, concurrency_lease.c.expire_time > now)
        .values(expire_time=expire_time)
    )
    return result.rowcount > 0
