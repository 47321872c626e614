"""A backlog of old finished flow runs, written straight into a benchmark's database.

Each run is COMPLETED with the three states a run through the API has (Pending, Running,
Completed), ended ``age_days`` ago, a millisecond apart. They are inserted with SQL, in
chunks of one statement each (``generate_series`` on PostgreSQL, a recursive CTE on
SQLite): hundreds of thousands take seconds, where the API would take minutes and could not
date them in the past. PostgreSQL's statistics are brought up to date after.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from runplane.server.db.engine import Database
from runplane.server.db.migrate import upgrade
from runplane.server.db.tables import flow, flow_run
from runplane.server.orchestration.states import TERMINAL_TYPES

CHUNK = 50_000

_POSTGRES = """
WITH runs AS (
    INSERT INTO flow_run (
        id, flow_id, name, parameters, job_variables, retry_delays, tags, create_time,
        update_time, run_count, start_time, end_time, expected_start_time, state_id,
        state_type, state_name, state_timestamp
    )
    SELECT gen_random_uuid(), :flow_id, :prefix || g.i, '{}'::jsonb, '{}'::jsonb,
        '[]'::jsonb, '[]'::jsonb, x.t, x.t, 1, x.t, x.t, x.t, gen_random_uuid(), 4,
        'Completed', x.t
    FROM generate_series(1, :count) AS g(i),
        LATERAL (SELECT CAST(:oldest AS timestamptz) + g.i * interval '1 millisecond') AS x(t)
    RETURNING id, state_id, state_timestamp
)
INSERT INTO flow_run_state (id, type, name, timestamp, flow_run_id)
SELECT gen_random_uuid(), 2, 'Pending', state_timestamp, id FROM runs
UNION ALL SELECT gen_random_uuid(), 3, 'Running', state_timestamp, id FROM runs
UNION ALL SELECT state_id, 4, 'Completed', state_timestamp, id FROM runs
"""

_SQLITE_RUNS = """
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < :count)
INSERT INTO flow_run (
    id, flow_id, name, parameters, job_variables, retry_delays, tags, create_time,
    update_time, run_count, start_time, end_time, expected_start_time, state_id, state_type,
    state_name, state_timestamp
)
SELECT lower(hex(randomblob(16))), :flow_id, :prefix || g.i, '{}', '{}', '[]', '[]', t, t,
    1, t, t, t, lower(hex(randomblob(16))), 4, 'Completed', t
FROM (SELECT i, strftime('%Y-%m-%d %H:%M:%f000', :oldest, '+' || (i / 1000.0) || ' seconds')
    AS t FROM g) AS g
"""

_SQLITE_STATES = """
INSERT INTO flow_run_state (id, type, name, timestamp, flow_run_id)
SELECT lower(hex(randomblob(16))), 2, 'Pending', state_timestamp, id FROM flow_run
    WHERE rowid > :after
UNION ALL SELECT lower(hex(randomblob(16))), 3, 'Running', state_timestamp, id FROM flow_run
    WHERE rowid > :after
UNION ALL SELECT state_id, 4, 'Completed', state_timestamp, id FROM flow_run
    WHERE rowid > :after
"""


async def _flow_id(database: Database) -> uuid.UUID:
    async with database.write() as conn:
        found = await conn.execute(sa.select(flow.c.id).where(flow.c.name == "bench-backlog"))
        if (flow_id := found.scalar()) is not None:
            return flow_id
        flow_id = uuid.uuid4()
        values = {"id": flow_id, "name": "bench-backlog", "tags": [], "create_time": _now()}
        await conn.execute(sa.insert(flow).values(values))
        return flow_id


def _now() -> datetime:
    return datetime.now(UTC)


async def count(database_url: str, age_days: float) -> int:
    """How many finished runs of the database ended more than ``age_days`` ago."""
    database = Database(database_url)
    try:
        return await old_runs(database, age_days)
    finally:
        await database.dispose()


async def old_runs(database: Database, age_days: float) -> int:
    """How many finished runs ended more than ``age_days`` ago."""
    cutoff = _now() - timedelta(days=age_days)
    ended = flow_run.c.state_type.in_([t.value for t in TERMINAL_TYPES])
    count = sa.select(sa.func.count()).where(ended, flow_run.c.state_timestamp < cutoff)
    async with database.read() as conn:
        return int((await conn.execute(count)).scalar_one())


async def fill(database_url: str, runs: int, age_days: float) -> int:
    """Tops the database's finished runs older than ``age_days`` up to ``runs``, migrating it
    first: how many it inserted."""
    database = Database(database_url)
    try:
        await upgrade(database)
        missing = runs - await old_runs(database, age_days)
        flow_id = await _flow_id(database)
        oldest = _now() - timedelta(days=age_days + 1)
        inserted = 0
        while inserted < missing:
            count = min(CHUNK, missing - inserted)
            values = {
                "flow_id": flow_id if database.dialect == "postgresql" else flow_id.hex,
                "prefix": f"backlog-{uuid.uuid4().hex[:8]}-",
                "count": count,
                # SQLite keeps UTC times as naive text.
                "oldest": oldest.replace(tzinfo=None).isoformat(sep=" "),
            }
            async with database.write() as conn:
                if database.dialect == "postgresql":
                    await conn.execute(sa.text(_POSTGRES), {**values, "oldest": oldest})
                else:
                    after = await conn.execute(sa.text("SELECT max(rowid) FROM flow_run"))
                    await conn.execute(sa.text(_SQLITE_RUNS), values)
                    await conn.execute(sa.text(_SQLITE_STATES), {"after": after.scalar() or 0})
            inserted += count
        if database.dialect == "postgresql" and inserted:
            # As autovacuum would after so many inserts: planned on the statistics of an
            # empty table, queries would not be those of a server that grew this large.
            async with database.write() as conn:
                await conn.execute(sa.text("ANALYZE flow_run, flow_run_state"))
        return max(missing, 0)
    finally:
        await database.dispose()
