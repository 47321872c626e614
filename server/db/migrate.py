"""Applies the Alembic migrations, programmatically, at server start or from the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.engine import Database
from runplane.server.db.revisions import current_revisions_of, head_revisions

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["alembic_config", "current_revisions", "head_revisions", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Held while migrating, so that replicas starting together on one PostgreSQL take turns.
_MIGRATION_LOCK_KEY = 0x72756E706C616E65  # "runplane"


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # only a migration needs Alembic: see revisions.py

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def current_revisions(database: Database) -> frozenset[str]:
    """The revisions the database is at; empty for a database never migrated."""
    async with database.read() as conn:
        return await conn.run_sync(current_revisions_of)


async def upgrade(database: Database, revision: str = "head") -> None:
    """Brings the schema to ``revision`` (the newest by default); safe to run concurrently.

    A database already at the newest revision, as on every start but the first after an
    upgrade, costs one read and no lock: revisions only move forward, so once at head it
    stays there whoever else is starting.
    """
    if revision == "head" and await current_revisions(database) == head_revisions():
        return

    if database.is_postgres:
        await _upgrade_postgresql(database, revision)
        return
    # SQLite has one writer: the whole upgrade is one write transaction.
    async with database.write() as conn:
        await conn.run_sync(_upgrade, revision)


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


async def _upgrade_postgresql(database: Database, revision: str) -> None:
    """Migrates outside a transaction: each migration runs in its own, and one that builds an
    index on a large table may do so CONCURRENTLY (in an autocommit block), which no
    transaction may enclose. The lock is the session's, held across those commits."""
    async with database.engine.connect() as conn:
        plain = conn.default_isolation_level
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        # Polled, not waited on: a CREATE INDEX CONCURRENTLY waits for every statement that
        # holds a snapshot, and one waiting for this lock would hold one until it is free.
        while True:
            if await _try_lock(conn):
                break
            await asyncio.sleep(_LOCK_POLL_SECONDS)
        await conn.commit()  # ends SQLAlchemy's own transaction; nothing is open in the database
        try:
            await conn.execution_options(isolation_level=plain)
            await conn.run_sync(_upgrade, revision)
        finally:
            await conn.rollback()  # whatever a failed migration left open
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(_UNLOCK, _LOCK_KEY)
            await conn.commit()


async def _try_lock(conn: AsyncConnection) -> bool:
    return bool((await conn.execute(_TRY_LOCK, _LOCK_KEY)).scalar_one())


_LOCK_KEY = {"key": _MIGRATION_LOCK_KEY - (1 << 63)}
_TRY_LOCK = sa.text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = sa.text("SELECT pg_advisory_unlock(:key)")
_LOCK_POLL_SECONDS = 0.05
