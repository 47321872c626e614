"""The Alembic history produces exactly the schema the tables declare, on both databases,
and a server starting on a database already at head skips the upgrade."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from runplane.server.db.engine import Database
from runplane.server.db.migrate import alembic_config, current_revisions, head_revisions, upgrade
from runplane.server.db.tables import POSTGRESQL_ONLY_INDEXES, metadata

pytestmark = pytest.mark.anyio

FIRST_REVISION = "0001"


def _differences(connection: Connection) -> list[object]:
    def declared_here(obj: object, name: str | None, kind: str, *_: object) -> bool:
        """Whether this dialect's schema has the object (the metadata's `ddl_if`)."""
        postgresql = connection.dialect.name == "postgresql"
        return kind != "index" or postgresql or name not in POSTGRESQL_ONLY_INDEXES

    opts = {"compare_type": True, "include_object": declared_here}
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, metadata))


async def _differences_from_the_tables(database: Database) -> list[object]:
    async with database.read() as conn:
        return await conn.run_sync(_differences)


async def test_upgrade_head_matches_the_tables(unmigrated_database_url: str) -> None:
    database = Database(unmigrated_database_url)
    try:
        assert await current_revisions(database) == frozenset()
        await upgrade(database)
        await upgrade(database)  # a second run is a no-op
        assert await current_revisions(database) == head_revisions()
        differences = await _differences_from_the_tables(database)
    finally:
        await database.dispose()
    assert differences == []


async def test_a_database_behind_head_is_upgraded(unmigrated_database_url: str) -> None:
    database = Database(unmigrated_database_url)
    try:
        await upgrade(database, FIRST_REVISION)
        assert await current_revisions(database) == {FIRST_REVISION}
        await upgrade(database)
        assert await current_revisions(database) == head_revisions()
        differences = await _differences_from_the_tables(database)
    finally:
        await database.dispose()
    assert differences == []


async def test_a_database_at_head_is_not_upgraded_again(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("Alembic's upgrade ran on a database already at head")

    monkeypatch.setattr(command, "upgrade", refuse)
    database = Database(database_url)
    try:
        await upgrade(database)
        assert await current_revisions(database) == head_revisions()
    finally:
        await database.dispose()


def _alembic_revisions(connection: Connection) -> frozenset[str]:
    return frozenset(MigrationContext.configure(connection).get_current_heads())


async def test_revisions_read_without_alembic_agree_with_alembic(
    unmigrated_database_url: str,
) -> None:
    alembic_heads = frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert head_revisions() == alembic_heads
    database = Database(unmigrated_database_url)
    try:
        for revision in (None, FIRST_REVISION, "head"):
            if revision is not None:
                await upgrade(database, revision)
            async with database.read() as conn:
                by_alembic = await conn.run_sync(_alembic_revisions)
            assert await current_revisions(database) == by_alembic
    finally:
        await database.dispose()
