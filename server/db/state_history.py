"""Reading a run's state history, the same for flow runs and task runs."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.run_records import StateRecord, state_from_row


async def list_states(
    conn: AsyncConnection,
    run_key: sa.Column[uuid.UUID],
    run_id: uuid.UUID,
    *,
    after: datetime | None,
    limit: int,
) -> list[StateRecord]:
    """The run's states, oldest first, from the history table that ``run_key`` belongs to
    (timestamps are strictly increasing per run, so they page on their own)."""
    history = run_key.table
    query = sa.select(history).where(run_key == run_id)
    if after is not None:
        query = query.where(history.c.timestamp > after)
    query = query.order_by(history.c.timestamp).limit(limit)
    records = [state_from_row(row._mapping, prefix="") for row in await conn.execute(query)]
    return [record for record in records if record is not None]
