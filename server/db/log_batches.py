"""WriteLogs batch ids already applied: a retried batch is recognised and stored once."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from runplane.server.db.tables import log_batch
from runplane.server.db.upsert import insert_ignoring_conflict


async def claim(
    conn: AsyncConnection,
    flow_run_id: uuid.UUID,
    batch_id: uuid.UUID,
    written_count: int,
    now: datetime,
) -> int | None:
    """Records the batch as applied in this transaction; None when it is new, else how many
    records the call that applied it wrote (the batch must then be written no more).

    On PostgreSQL a concurrent call with the same id waits here for the first to commit."""
    values = {
        "flow_run_id": flow_run_id,
        "batch_id": batch_id,
        "written_count": written_count,
        "create_time": now,
    }
    if await insert_ignoring_conflict(conn, log_batch, values, ["flow_run_id", "batch_id"]):
        return None
    query = sa.select(log_batch.c.written_count).where(
        log_batch.c.flow_run_id == flow_run_id, log_batch.c.batch_id == batch_id
    )
    return int((await conn.execute(query)).scalar_one())
