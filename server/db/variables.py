"""Queries on variables: named JSON values."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from runplane.server.db.records import _FromRow
from runplane.server.db.tables import variable
from runplane.server.db.upsert import insert_ignoring_conflict


@dataclass(frozen=True, slots=True)
class VariableRecord(_FromRow):
    id: uuid.UUID
    name: str
    value: Any
    tags: list[str]
    create_time: datetime
    update_time: datetime


async def get(conn: AsyncConnection, name: str) -> VariableRecord | None:
    row = (await conn.execute(sa.select(variable).where(variable.c.name == name))).first()
    return VariableRecord.from_row(row) if row else None


async def put(
    conn: AsyncConnection,
    name: str,
    value: Any,
    tags: list[str],
    now: datetime,
    *,
    overwrite: bool,
) -> tuple[VariableRecord, bool] | None:
    """The variable stored and True when created; None when it exists and ``overwrite`` is off."""
    values = {
        "id": uuid.uuid4(),
        "name": name,
        "value": value,
        "tags": tags,
        "create_time": now,
        "update_time": now,
    }
    created = await insert_ignoring_conflict(conn, variable, values, ["name"])
    if not created:
        if not overwrite:
            return None
        await conn.execute(
            sa.update(variable)
            .where(variable.c.name == name)
            .values(value=value, tags=tags, update_time=now)
        )
    found = await get(conn, name)
    assert found is not None  # inserted or updated above, in this transaction
    return found, created


async def list_page(
    conn: AsyncConnection, *, prefix: str, after_name: str | None, limit: int
) -> list[VariableRecord]:
    query = sa.select(variable).order_by(variable.c.name).limit(limit)
    if prefix:
        query = query.where(variable.c.name.startswith(prefix, autoescape=True))
    if after_name is not None:
        query = query.where(variable.c.name > after_name)
    return [VariableRecord.from_row(row) for row in await conn.execute(query)]


async def delete(conn: AsyncConnection, name: str) -> bool:
    result = await conn.execute(sa.delete(variable).where(variable.c.name == name))
    return result.rowcount > 0
