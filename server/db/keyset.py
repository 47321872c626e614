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
    """Rows that come after ``key`` in (time, id) descending order."""
    time, row_id = key
    return sa.or_(time_column < time, sa.and_(time_column == time, id_column < row_id))
