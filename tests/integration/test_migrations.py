"""The Alembic history produces exactly the schema the tables declare, on both databases,
and a server starting on a database already at head skips the upgrade."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from runplane.server.db.engine import Database
from runplane.server.db.migrate import alembic_config, current_revisions, head_revisions, upgrade
from runplane.server.db.tables import flow_run_tag, metadata

pytestmark = pytest.mark.anyio

FIRST_REVISION = "0001"


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
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


async def test_runs_tags_are_copied_and_runs_stay_writable_while_indexes_build(
    unmigrated_database_url: str,
) -> None:
    """Runs written before the run tags' table existed are found by their tags after the
    upgrade; on PostgreSQL the list indexes are built CONCURRENTLY, valid, and the upgrade
    leaves no lock behind."""
    database = Database(unmigrated_database_url)
    run_id = uuid.uuid4()
    try:
        await upgrade(database, "0009")
        async with database.write() as conn:
            await conn.execute(sa.text(_OLD_FLOW), {"id": uuid.uuid4().hex})
            await conn.execute(sa.text(_OLD_RUN), {"id": run_id.hex, "tags": '["a", "b"]'})
        await upgrade(database)
        async with database.read() as conn:
            tags = await conn.execute(
                sa.select(flow_run_tag.c.tag).where(flow_run_tag.c.flow_run_id == run_id)
            )
            assert sorted(tags.scalars()) == ["a", "b"]
            if database.is_postgres:
                invalid = await conn.execute(sa.text(_INVALID_INDEXES))
                assert invalid.scalars().all() == []
                locks = await conn.execute(sa.text(_ADVISORY_LOCKS))
                assert locks.scalar_one() == 0
    finally:
        await database.dispose()


_OLD_FLOW = "INSERT INTO flow (id, name, tags, create_time) VALUES (:id, 'old', '[]', '2026-01-01')"
_OLD_RUN = """
INSERT INTO flow_run (id, flow_id, name, parameters, job_variables, retry_delays, tags,
                      create_time, update_time)
SELECT :id, id, 'old-run', '{}', '{}', '[]', :tags, '2026-01-01', '2026-01-01' FROM flow
"""
_INVALID_INDEXES = """
SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid
"""
# This database's only: other tests' servers hold loop locks in databases of their own.
_ADVISORY_LOCKS = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory'
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


async def test_servers_starting_together_upgrade_one_after_the_other(
    unmigrated_database_url: str,
) -> None:
    databases = [Database(unmigrated_database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(database) for database in databases))
        assert await current_revisions(databases[0]) == head_revisions()
        assert await _differences_from_the_tables(databases[0]) == []
    finally:
        for database in databases:
            await database.dispose()
