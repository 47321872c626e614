"""Keyset conditions for lists served newest first by (time, id)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa


def older_than(
    time_column: sa.ColumnElement[Any],
    id_column: sa.ColumnElement[Any],
    key: tuple[datetime, uuid.UUID],
) -> sa.ColumnElement[bool]:
    """Rows that come after ``key`` in (time, id) descending order.

    A row comparison, not its spelled-out OR: PostgreSQL and SQLite then seek an index on
    (..., time, id) straight to the key, where the OR would read every newer row first.
    """
    time, row_id = key
    return sa.tuple_(time_column, id_column) < sa.tuple_(
        sa.literal(time, time_column.type), sa.literal(row_id, id_column.type)
    )
