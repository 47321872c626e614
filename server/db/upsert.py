"""INSERT ... ON CONFLICT DO NOTHING, which both dialects support with their own syntax, and
create-or-get on top of it that holds against a concurrent delete."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from runplane.server.db import postgresql
from runplane.server.db.async_engine import AsyncConnection


async def insert_ignoring_conflict(
    conn: AsyncConnection,
    table: sa.Table,
    values: Mapping[str, Any],
    conflict_columns: Sequence[str],
) -> bool:
    """Inserts the row unless it clashes on ``conflict_columns``; True when it was inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(sa.literal(True))
    )
    result = await conn.execute(statement)
    return result.first() is not None


async def upsert(
    conn: AsyncConnection,
    table: sa.Table,
    values: Mapping[str, Any],
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
) -> bool:
    """Inserts the row or, when it clashes, sets ``update_columns`` of the existing row, in one
    statement (so that no concurrent delete slips between); True when it was inserted.

    ``values`` must hold a fresh ``id``: the row's id afterwards tells which of the two it was.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=list(conflict_columns),
        set_={column: statement.excluded[column] for column in update_columns},
    ).returning(table.c.id)
    row_id = (await conn.execute(statement)).scalar_one()
    return bool(row_id == values["id"])


T = TypeVar("T")
# A row deleted between a clashing insert and the read that follows needs one more insert; a
# loop of deletes racing every attempt is vanishingly unlikely, and then answered as unavailable.
_ATTEMPTS = 5


class InsertRaced(Exception):
    """Concurrent deletes removed the row every time it clashed; the caller may retry."""


async def insert_or_read(
    insert: Callable[[], Awaitable[T | None]], read: Callable[[], Awaitable[T | None]]
) -> tuple[T, bool]:
    """What ``insert`` created (True), or else the existing row that it clashed with (False).

    Between a clash and the read, another transaction may delete the row (READ COMMITTED sees
    that commit): then the insert is tried again instead of assuming the row is there.
    """
    for _ in range(_ATTEMPTS):
        created = await insert()
        if created is not None:
            return created, True
        found = await read()
        if found is not None:
            return found, False
    raise InsertRaced("the row was deleted by concurrent calls while it was being created")
