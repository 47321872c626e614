"""Column types that behave the same on PostgreSQL and SQLite.

PostgreSQL cannot store NUL in text or JSON, SQLite can: free text and JSON values are
escaped on their way to PostgreSQL and unescaped on their way back (see `nul_escape`), so
that every string reads back as it was written on both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from runplane.server.db import json_storage
from runplane.server.db.nul_escape import escape_json, escape_text, unescape_json, unescape_text


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime: SQLite keeps no zone, so it is stored and read back as UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _escape(value: str | None) -> str | None:
    return None if value is None else escape_text(value)


def _unescape(value: str | None) -> str | None:
    return None if value is None else unescape_text(value)


class FreeText(sa.TypeDecorator[str]):
    """Text that may hold any character, NUL included (messages, log lines, artifact data).

    Identifiers do not need it: the API refuses control characters in them.
    """

    impl = sa.Text
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[str | None], str | None] | None:
        # No processing at all on SQLite, which stores NUL.
        return _escape if dialect.name == "postgresql" else None

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[str | None], str | None] | None:
        return _unescape if dialect.name == "postgresql" else None


class _JSONB(sa.TypeDecorator[Any]):
    """PostgreSQL's JSONB, its dialect imported only when a PostgreSQL database uses it."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        from runplane.server.db import postgresql

        return dialect.type_descriptor(postgresql.jsonb())


# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite. NUL inside JSONB strings is
# handled by the PostgreSQL engine's JSON functions below, which every JSONB value goes through.
JSON: sa.types.TypeEngine[Any] = sa.JSON().with_variant(_JSONB(), "postgresql")

# What a JSON string's NUL and escape character look like in JSON text (`json.dumps` and
# PostgreSQL both write control characters as \\u escapes).
NUL_IN_JSON = "\\u0000"
ESCAPE_IN_JSON = "\\u0010"
ESCAPE_IN_JSON_BYTES = ESCAPE_IN_JSON.encode()


def postgres_json_dumps(value: Any) -> str:
    """JSON text for a JSONB value, its strings escaped when they hold NUL or the escape."""
    text = json_storage.dumps(value)
    if NUL_IN_JSON in text or ESCAPE_IN_JSON in text:
        return json_storage.dumps(escape_json(value))
    return text


def postgres_json_loads(text: str | bytes) -> Any:
    """The JSON value that `postgres_json_dumps` stored as ``text``."""
    value = json.loads(text)
    escaped = ESCAPE_IN_JSON_BYTES in text if isinstance(text, bytes) else ESCAPE_IN_JSON in text
    return unescape_json(value) if escaped else value
