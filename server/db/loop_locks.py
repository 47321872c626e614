"""One server process at a time per loop pass, on a database shared by several.

PostgreSQL: a transaction-scoped advisory lock, taken without waiting; a process that does
not get it skips the pass (another one is doing it). SQLite: writers are serialized
already, so the lock is always granted.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection


def _key(name: str) -> int:
    digest = hashlib.sha256(f"runplane loop {name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def try_lock(conn: AsyncConnection, name: str) -> bool:
    """Takes the loop's lock for the rest of the transaction; False when another holds it."""
    if conn.dialect.name != "postgresql":
        return True
    statement = sa.text("SELECT pg_try_advisory_xact_lock(:key)")
    return bool((await conn.execute(statement, {"key": _key(name)})).scalar_one())
