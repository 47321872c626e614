"""SQLAlchemy's PostgreSQL constructs, its dialect imported on first use.

Importing ``sqlalchemy.dialects.postgresql`` loads every PostgreSQL driver's dialect module
with it, a good part of a server's start-up: a server on SQLite (the SDK's embedded default)
never needs it. So no module builds a PostgreSQL construct when it is imported; each asks
here, when a statement first runs on PostgreSQL. Type checkers see the real types.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import ARRAY, JSONB, Insert
    from sqlalchemy.engine import Dialect

__all__ = ["array_of", "compile_type", "insert", "jsonb"]


def insert(table: sa.Table) -> Insert:
    """PostgreSQL's INSERT, with ``ON CONFLICT``."""
    from sqlalchemy.dialects import postgresql

    return postgresql.insert(table)


@functools.cache
def jsonb() -> JSONB:
    from sqlalchemy.dialects.postgresql import JSONB

    return JSONB()


def array_of(item: type[sa.types.TypeEngine[Any]]) -> ARRAY[Any]:
    """An array parameter's type, as in ``column = ANY(:ids)``."""
    from sqlalchemy.dialects.postgresql import ARRAY

    return ARRAY(item)


@functools.cache
def _dialect() -> Dialect:
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect()  # type: ignore[no-untyped-call]  # untyped in SQLAlchemy


def compile_type(column_type: sa.types.TypeEngine[Any]) -> str:
    """The type's name in PostgreSQL's DDL (``TIMESTAMP WITH TIME ZONE``, ``JSONB``)."""
    return column_type.compile(dialect=_dialect())
