"""The Alembic history produces exactly the schema the tables declare, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from runplane.server.db.engine import Database
from runplane.server.db.migrate import upgrade
from runplane.server.db.tables import metadata

pytestmark = pytest.mark.anyio


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_upgrade_head_matches_the_tables(database_url: str) -> None:
    database = Database(database_url)
    try:
        await upgrade(database)
        await upgrade(database)  # a second run is a no-op
        async with database.read() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await database.dispose()
    assert differences == []
