"""Publishes to this process's watches and log follows what another process committed."""

from __future__ import annotations

from collections.abc import Sequence

from runplane.server.db import flow_run_batch
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.changes import StateChange
from runplane.server.db.logs import LogRecord
from runplane.server.hub import Hub
from runplane.server.transitions.events import FlowRunEvent


async def feed_states(
    conn: AsyncConnection, events: Hub[FlowRunEvent], changes: Sequence[StateChange]
) -> None:
    """One event per state, in the given order (oldest first), each with its run as it is
    now, as for the states this process writes; a watch drops a state older than one it
    already sent."""
    if not changes:
        return
    runs = await flow_run_batch.get_many(conn, {run_id for run_id, _ in changes})
    for run_id, state in changes:
        run = runs.get(run_id)
        if run is not None:  # not deleted since
            events.publish_local(FlowRunEvent(run, state))


def feed_logs(logs: Hub[tuple[LogRecord, ...]], records: Sequence[LogRecord]) -> None:
    """The records as one batch, in id order; a follow drops the ids it already sent."""
    if records:
        logs.publish_local(tuple(records))
