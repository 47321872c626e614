"""Which way this server's streams hear of changes made through other server processes."""

from __future__ import annotations

from typing import Protocol

from runplane.server.cluster_notices import Notice
from runplane.server.db.delivery_dialects import DeliveryDialect
from runplane.server.db.engine import Database
from runplane.server.db.logs import LogRecord
from runplane.server.hub import Hub
from runplane.server.streams.notices import ClusterNotices
from runplane.server.streams.sqlite_changes import SqliteChanges
from runplane.server.transitions.events import FlowRunEvent


class StreamFeed(Protocol):
    async def run(self) -> None:
        """Works until cancelled."""
        ...

    def on_notice(self, notice: Notice) -> None:
        """A notice from another server process (PostgreSQL)."""
        ...


def stream_feed(
    database: Database,
    dialect: DeliveryDialect,
    events: Hub[FlowRunEvent],
    logs: Hub[tuple[LogRecord, ...]],
) -> StreamFeed:
    """Notices on PostgreSQL; polling while anyone watches on SQLite. Connects the hubs."""
    if database.is_postgres:
        return ClusterNotices(database, events, logs, dialect.publish)
    return SqliteChanges(database, events, logs)
