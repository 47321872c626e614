"""States written by the server's own work, announced to WatchFlowRuns after they commit.

``propose`` records each state it writes in the collector of the current task, if one is
open; a loop step runs inside ``announcing(...)``, which publishes one event per written
state once the step (and so its transactions) has finished. Nothing is read back unless
someone in this process is watching; relays to other server processes get the states' ids.

The block also learns whether any of those states took a run out of PENDING, RUNNING or
CANCELLING: that frees room under the concurrency limits of its deployment, work pool and
queue, which the work dispatcher then offers to the runs waiting for it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from runplane.server.db import flow_run_batch
from runplane.server.db.engine import Database
from runplane.server.db.run_records import StateRecord
from runplane.server.hub import Hub
from runplane.server.transitions.events import FlowRunEvent


@dataclass
class Written:
    """The states written inside one ``announcing`` block."""

    states: list[tuple[uuid.UUID, StateRecord]] = field(default_factory=list)
    freed_slots: bool = False
    """Whether a run left PENDING, RUNNING or CANCELLING (known once the block is done)."""


_collector: ContextVar[Written | None] = ContextVar("runplane_written_states", default=None)


def record_written(run_id: uuid.UUID, state: StateRecord, *, frees_slots: bool) -> None:
    """Notes a state written in the current transaction (a no-op outside ``announcing``);
    ``frees_slots``: it takes the run out of PENDING, RUNNING or CANCELLING."""
    written = _collector.get()
    if written is None:
        return
    written.states.append((run_id, state))
    written.freed_slots |= frees_slots


@asynccontextmanager
async def announcing(database: Database, events: Hub[FlowRunEvent]) -> AsyncIterator[Written]:
    """Publishes the states written inside the block once it has finished."""
    written = Written()
    token = _collector.set(written)
    try:
        yield written
    finally:
        _collector.reset(token)
    audience = events.audience()
    if not written.states or not audience:
        return
    if not audience.events:
        events.relay_written([state.id for _, state in written.states])
        return
    async with database.read() as conn:
        # One read for all: the claims of a delivery pass write many states at once.
        records = await flow_run_batch.get_many(conn, {run_id for run_id, _ in written.states})
    for run_id, state in written.states:
        record = records.get(run_id)
        if record is not None:
            events.publish(FlowRunEvent(record, state))
