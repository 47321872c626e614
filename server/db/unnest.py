"""Many rows as one JSON parameter, turned back into rows by PostgreSQL.

A batch of rows sent as one ``jsonb`` document makes one statement whose text never changes
with the number of rows: PostgreSQL prepares it once, and the rows are encoded by the C JSON
encoder instead of the driver converting every cell of an array in Python.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from runplane.server.db import json_storage, postgresql
from runplane.server.db.nul_escape import escape_json
from runplane.server.db.types import ESCAPE_IN_JSON, NUL_IN_JSON


def unnest_rows(columns: Sequence[tuple[str, sa.Column[Any]]], parameter: str = "rows") -> str:
    """``SELECT * FROM jsonb_to_recordset(...) AS v(name type, ...)`` over `parameter`."""
    types = ", ".join(f"{name} {postgresql.compile_type(column.type)}" for name, column in columns)
    return f"SELECT * FROM jsonb_to_recordset(CAST(:{parameter} AS JSONB)) AS v({types})"


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def unnest_params(rows: Sequence[Mapping[str, Any]], parameter: str = "rows") -> dict[str, str]:
    """The parameter of `unnest_rows` for `rows`, each keyed by the column names.

    A JSON column's None arrives as JSON null, as SQLAlchemy's JSON type stores it. Strings
    holding NUL are escaped as the column types escape them (the rows bypass those types).
    """
    text = json_storage.dumps(rows, default=_plain)
    if NUL_IN_JSON in text or ESCAPE_IN_JSON in text:
        text = json_storage.dumps(escape_json(rows), default=_plain)
    return {parameter: text}
