"""Applies the Alembic migrations, programmatically, at server start or from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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

    def _run(connection: Connection) -> None:
        from alembic import command

        if connection.dialect.name == "postgresql":
            lock = sa.text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": _MIGRATION_LOCK_KEY - (1 << 63)})
        command.upgrade(alembic_config(connection), revision)

    async with database.write() as conn:
        await conn.run_sync(_run)
