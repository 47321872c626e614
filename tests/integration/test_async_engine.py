"""The server's async engine on both databases: transactions commit or roll back as their
block ends, and a connection goes back to the pool even when its task is cancelled."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runplane.server.db.engine import Database
from runplane.server.db.tables import flow
from runplane.server.settings import PoolSize

pytestmark = pytest.mark.anyio


def _new_flow() -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "name": f"engine-{uuid.uuid4().hex[:8]}",
        "tags": ["a", "b"],  # rows any list of flows may read: tags as the API writes them
        "create_time": datetime.now(UTC),
    }


async def _stored(database: Database, flow_id: object) -> list[object]:
    async with database.read() as conn:
        rows = await conn.execute(sa.select(flow.c.tags).where(flow.c.id == flow_id))
        return [row.tags for row in rows]


async def _insert_then_fail(database: Database, row: dict[str, object]) -> None:
    async with database.write() as conn:
        await conn.execute(sa.insert(flow), row)
        raise RuntimeError("undone")


async def test_a_block_commits_and_a_failed_one_rolls_back(database_url: str) -> None:
    database = Database(database_url)
    kept, dropped = _new_flow(), _new_flow()
    try:
        async with database.write() as conn:
            await conn.execute(sa.insert(flow), kept)
        with pytest.raises(RuntimeError, match="undone"):
            await _insert_then_fail(database, dropped)
        assert await _stored(database, kept["id"]) == [["a", "b"]]
        assert await _stored(database, dropped["id"]) == []
    finally:
        await database.dispose()


async def test_many_rows_and_blocking_code_in_one_transaction(database_url: str) -> None:
    database = Database(database_url)
    rows = [_new_flow() for _ in range(3)]

    def names(connection: Connection, ids: list[object]) -> set[str]:
        query = sa.select(flow.c.name).where(flow.c.id.in_(ids))
        return {row.name for row in connection.execute(query)}

    try:
        async with database.write() as conn:
            await conn.execute(sa.insert(flow), rows)
            found = await conn.run_sync(names, [row["id"] for row in rows])
        assert found == {row["name"] for row in rows}
    finally:
        await database.dispose()


async def test_a_cancelled_task_gives_its_connection_back(database_url: str) -> None:
    """The pool's one connection is taken by a task cancelled inside its block; the next
    reader gets it back, where a connection abandoned halfway would time the pool out."""
    database = Database(database_url, pool=PoolSize(size=1, overflow=0, timeout=5.0))
    inside = asyncio.Event()

    async def hold() -> None:
        async with database.read() as conn:
            await conn.execute(sa.select(sa.literal(1)))
            inside.set()
            await asyncio.Event().wait()

    try:
        holder = asyncio.create_task(hold())
        await inside.wait()
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder
        async with database.read() as conn:
            assert (await conn.execute(sa.select(sa.literal(2)))).scalar_one() == 2
    finally:
        await database.dispose()
