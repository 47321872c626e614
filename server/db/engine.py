"""The database handle: one async engine; the one place where dialect transactions differ."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from runplane.server.db import json_storage
from runplane.server.db.async_engine import AsyncConnection, AsyncEngine, create_async_engine
from runplane.server.db.tables import attach_postgresql_options
from runplane.server.db.types import postgres_json_dumps, postgres_json_loads
from runplane.server.settings import PoolSize

_IMMEDIATE = "runplane_sqlite_immediate"
# How long a SQLite connection waits for another process's lock before "database is locked".
_SQLITE_BUSY_SECONDS = 30


class Database:
    """Owns the engine. ``write()`` and ``read()`` open transactions suited to the dialect.

    PostgreSQL transactions run concurrently and lock rows. SQLite has a single writer, so
    writes from this process queue on a lock and open with ``BEGIN IMMEDIATE``: a writer
    never has to upgrade a read lock, which is what makes SQLite fail with "database is
    locked" instead of waiting. Other processes on the same file wait on the busy timeout.
    """

    def __init__(self, url: str, *, echo: bool = False, pool: PoolSize | None = None) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        if self.dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"unsupported database {self.dialect!r}: use postgresql or sqlite")
        if self.dialect == "postgresql":
            attach_postgresql_options()
        options = _engine_options(url, pool or PoolSize())
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, **options)
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)

    @property
    def display_url(self) -> str:
        """The URL with any password hidden, for logs and messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction, committed when the block exits without an error."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.connect() as raw:
            conn = await raw.execution_options(**{_IMMEDIATE: True})
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (a consistent snapshot on both dialects)."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()


def _engine_options(url: str, pool: PoolSize) -> dict[str, Any]:
    sizes = {"pool_size": pool.size, "max_overflow": pool.overflow, "pool_timeout": pool.timeout}
    if make_url(url).get_backend_name() == "sqlite":
        # sqlite3's timeout is the connection's busy timeout.
        return {
            "connect_args": {"timeout": _SQLITE_BUSY_SECONDS},
            "json_serializer": json_storage.dumps,
            **sizes,
        }
    # PostgreSQL cannot store NUL in JSONB: every JSON value goes through these, on any path.
    json_functions = {
        "json_serializer": postgres_json_dumps,
        "json_deserializer": postgres_json_loads,
    }
    return {**sizes, "pool_recycle": 1800, **json_functions}


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so it can choose IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _use_wal(cursor: Any) -> None:
    """Puts the file in WAL mode. While another process switches a new file to WAL or
    recovers its log, SQLite refuses the switch as "database is locked" at once, without
    waiting on the busy timeout: try again until that timeout has passed."""
    deadline = time.monotonic() + _SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def database_unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached or used for now (a restart,
    a dropped connection, a lock held past the busy timeout, every pooled connection busy
    past the pool timeout), rather than that the statement was wrong."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError | InterfaceError | PoolTimeout)
