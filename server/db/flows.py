"""Queries on flows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.records import FlowRecord
from runplane.server.db.tables import flow
from runplane.server.db.upsert import insert_ignoring_conflict, insert_or_read


async def create_or_get(
    conn: AsyncConnection, name: str, tags: Sequence[str], now: datetime
) -> tuple[FlowRecord, bool]:
    """The flow with this name, created when missing; True when this call created it."""
    record = FlowRecord(id=uuid.uuid4(), name=name, tags=list(tags), create_time=now)

    async def insert() -> FlowRecord | None:
        values = {"id": record.id, "name": name, "tags": record.tags, "create_time": now}
        return record if await insert_ignoring_conflict(conn, flow, values, ["name"]) else None

    return await insert_or_read(insert, lambda: get_by_name(conn, name))


async def get(conn: AsyncConnection, flow_id: uuid.UUID) -> FlowRecord | None:
    row = (await conn.execute(sa.select(flow).where(flow.c.id == flow_id))).first()
    return FlowRecord.from_row(row) if row else None


async def get_by_name(conn: AsyncConnection, name: str) -> FlowRecord | None:
    row = (await conn.execute(sa.select(flow).where(flow.c.name == name))).first()
    return FlowRecord.from_row(row) if row else None


async def list_page(
    conn: AsyncConnection, *, name_prefix: str, after_name: str | None, limit: int
) -> list[FlowRecord]:
    query = sa.select(flow).order_by(flow.c.name).limit(limit)
    if name_prefix:
        query = query.where(flow.c.name.startswith(name_prefix, autoescape=True))
    if after_name is not None:
        query = query.where(flow.c.name > after_name)
    return [FlowRecord.from_row(row) for row in await conn.execute(query)]


async def delete(conn: AsyncConnection, flow_id: uuid.UUID) -> bool:
    result = await conn.execute(sa.delete(flow).where(flow.c.id == flow_id))
    return result.rowcount > 0
