"""Queries on variables: named JSON values."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from runplane.server.db import json_storage
from runplane.server.db.async_engine import AsyncConnection
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
    created = VariableRecord(uuid.uuid4(), name, value, tags, now, now)
    values = dataclasses.asdict(created) | {"value": _storable(conn, value)}
    if await insert_ignoring_conflict(conn, variable, values, ["name"]):
        return created, True
    if not overwrite:
        return None
    replaced = (
        sa.update(variable)
        .where(variable.c.name == name)
        .values(value=_storable(conn, value), tags=tags, update_time=now)
        .returning(*variable.c)
    )
    row = (await conn.execute(replaced)).first()
    if row is None:  # deleted since the insert met it: store it anew
        return await put(conn, name, value, tags, now, overwrite=overwrite)
    return VariableRecord.from_row(row), False


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


def _storable(conn: AsyncConnection, value: Any) -> Any:
    """The value as the column should receive it. SQLite gives a column declared JSON numeric
    affinity, so the text of a bare number would be stored as a SQLite number: ``1.0`` would
    come back as ``1`` and ``10**30`` rounded. The JSON text bound as a BLOB is stored as
    written (affinity converts only TEXT), and reads back as JSON like any other."""
    if conn.dialect.name != "sqlite":
        return value
    return sa.literal(json_storage.dumps(value).encode(), sa.LargeBinary)
