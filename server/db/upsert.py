"""INSERT ... ON CONFLICT DO NOTHING, which both dialects support with their own syntax."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


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
