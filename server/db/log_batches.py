"""WriteLogs batch ids already applied: a retried batch is recognised and stored once."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.tables import log_batch, task_log_batch
from runplane.server.db.upsert import insert_ignoring_conflict

# Where a batch's applied id is kept: under its first flow run or, for a batch of task runs
# of their own alone, its first task run; either way it goes when that run is deleted.
APPLIED_BATCHES: tuple[tuple[sa.Table, sa.Column[uuid.UUID]], ...] = (
    (log_batch, log_batch.c.flow_run_id),
    (task_log_batch, task_log_batch.c.task_run_id),
)


async def claim(
    conn: AsyncConnection,
    run_id: uuid.UUID,
    batch_id: uuid.UUID,
    written_count: int,
    now: datetime,
    *,
    task_run: bool = False,
) -> int | None:
    """Records the batch as applied in this transaction, under the flow run ``run_id`` (or
    the task run of its own, with ``task_run``); None when it is new, else how many records
    the call that applied it wrote (the batch must then be written no more).

    On PostgreSQL a concurrent call with the same id waits here for the first to commit."""
    table, owner = APPLIED_BATCHES[1 if task_run else 0]
    values = {
        owner.name: run_id,
        "batch_id": batch_id,
        "written_count": written_count,
        "create_time": now,
    }
    if await insert_ignoring_conflict(conn, table, values, [owner.name, "batch_id"]):
        return None
    query = sa.select(table.c.written_count).where(owner == run_id, table.c.batch_id == batch_id)
    return int((await conn.execute(query)).scalar_one())
