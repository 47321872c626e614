"""SQLite: notices within about a second what other processes (or other servers in this
process) commit to the same file, while anyone here watches or follows logs.

SQLite tells no one of commits. ``PRAGMA data_version``, read on one held connection, moves
whenever another connection commits, and costs no I/O: it is read every half second, and
only while this process has a watch or a log follow open (nobody watching, no polling).
When it moved, the states written since the newest one seen (less a margin, since a writer
takes its timestamps before it waits for the write lock) and the log records after the last
id seen are read and published here. States are remembered by id, so none is published
twice; those this process wrote itself reach its watches first and are dropped by them
(see ``watch_order``), as follows drop the log ids they already sent.

The starting point is taken when the first watch or follow opens, before it reads what it
starts from (``Hub.caught_up``): what was committed before is not news, what comes after is.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

from runplane.server.cluster_notices import Notice
from runplane.server.db import changes
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.engine import Database
from runplane.server.db.logs import LogRecord
from runplane.server.hub import Hub
from runplane.server.streams.feeding import feed_logs, feed_states
from runplane.server.transitions.events import FlowRunEvent

logger = logging.getLogger(__name__)

POLL_INTERVAL = 0.5
LOOKBACK = timedelta(seconds=60)
"""Longer than a writer may wait for the write lock (the busy timeout, 30 s)."""
_LOG_PAGE = 1000
_BEFORE_ANY = datetime(2000, 1, 1, tzinfo=UTC)


class SqliteChanges:
    """Polls for other connections' commits while anyone watches (see above)."""

    def __init__(
        self, database: Database, events: Hub[FlowRunEvent], logs: Hub[tuple[LogRecord, ...]]
    ) -> None:
        self._db = database
        self._events = events
        self._logs = logs
        self._lock = asyncio.Lock()
        self._conn: AsyncConnection | None = None
        """Held while anyone watches; its data_version tells of other connections' commits."""
        self._version = 0
        self._newest = _BEFORE_ANY
        self._seen: dict[uuid.UUID, datetime] = {}
        self._last_log_id = 0
        events.catch_up_with(self._start)
        logs.catch_up_with(self._start)

    @property
    def polling(self) -> bool:
        """Whether it holds a connection and polls it (only while anyone watches)."""
        return self._conn is not None

    def on_notice(self, notice: Notice) -> None:
        """SQLite has no notifications."""

    def _anyone(self) -> bool:
        return bool(self._events.subscriber_count or self._logs.subscriber_count)

    async def _start(self) -> None:
        """Takes the starting point, unless someone already watches."""
        async with self._lock:
            if self._conn is not None:
                return
            conn = await self._db.engine.connect()
            try:
                self._version = await changes.data_version(conn)
                async with self._db.read() as read:
                    self._newest = await changes.newest_state_time(read) or _BEFORE_ANY
                    recent = await changes.states_since(read, self._newest - LOOKBACK)
                    self._last_log_id = await changes.last_log_id(read)
            except BaseException:
                await conn.close()
                raise
            self._seen = {state.id: state.timestamp for _, state in recent}
            self._conn = conn

    async def _stop(self) -> None:
        conn, self._conn = self._conn, None
        self._seen = {}
        if conn is not None:
            await conn.close()

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(POLL_INTERVAL)
                try:
                    await self._poll()
                except Exception as error:
                    logger.warning("could not look for other processes' changes: %s", error)
                    async with self._lock:
                        await self._stop()
        finally:
            await self._stop()

    async def _poll(self) -> None:
        if self._conn is None and self._anyone():
            await self._start()  # after an error, so that those watching hear of changes again
        async with self._lock:
            if self._conn is None:
                return
            if not self._anyone():
                await self._stop()
                return
            version = await changes.data_version(self._conn)
            if version != self._version:
                self._version = version
                await self._catch_up()

    async def _catch_up(self) -> None:
        async with self._db.read() as conn:
            found = await changes.states_since(conn, self._newest - LOOKBACK)
            new = [(run_id, state) for run_id, state in found if state.id not in self._seen]
            for _, state in new:
                self._seen[state.id] = state.timestamp
                self._newest = max(self._newest, state.timestamp)
            horizon = self._newest - LOOKBACK
            self._seen = {i: t for i, t in self._seen.items() if t > horizon}
            if self._events.subscriber_count:
                await feed_states(conn, self._events, new)
            while True:
                page = await changes.logs_after(conn, self._last_log_id, _LOG_PAGE)
                if page:
                    self._last_log_id = page[-1].id
                    if self._logs.subscriber_count:
                        feed_logs(self._logs, page)
                if len(page) < _LOG_PAGE:
                    return
