"""PostgreSQL faults for tests: what a restart of the database does to its clients."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import make_url


def drop_connections(database_url: str) -> int:
    """Ends every session on the database, as a restart of PostgreSQL does: how many."""
    url = make_url(database_url)
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (url.database,),
        ).fetchone()
    return int(row[0]) if row else 0


async def notify(database_url: str, channel: str, payloads: list[str]) -> None:
    """Sends these payloads on the channel, in order, as another program on the database may."""
    url = make_url(database_url).set(drivername="postgresql")
    conninfo = url.render_as_string(hide_password=False)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        for payload in payloads:
            await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
