"""PostgreSQL: each server process tells the others which flow-run states and log records it
committed, on the work channel (NOTIFY), and publishes what the others committed to its own
watches and log follows.

The notices (:mod:`runplane.server.cluster_notices`) carry ids only, batched to fit a
NOTIFY payload: :class:`StatesWritten` (flow-run states, by id) and :class:`LogsWritten` (the
first and last id of the log records written, per run).

Sending: the hubs relay every state and log batch this process publishes; one task sends
all that was queued since its last send in as few payloads as fit, so under load one NOTIFY
covers many writes. It lets a change wait ``LINGER_SECONDS`` for others to join it: the
two states of a short flow run, or a run's states and its logs, then cost one statement.
Receiving: a server with nobody watching (or following) drops a notice
at once; otherwise it reads those states (or records) back and publishes them locally, in
the order the notices came. Log writes of one run commit in id order on every server (see
``logs.order_writers``), and notices arrive in commit order, so a follow stays in order.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence

from runplane.server.cluster_notices import (
    LogsWritten,
    Notice,
    StatesWritten,
    logs_written,
    states_written,
)
from runplane.server.db import changes
from runplane.server.db.engine import Database
from runplane.server.db.logs import LogRecord
from runplane.server.hub import Hub
from runplane.server.streams.feeding import feed_logs, feed_states
from runplane.server.transitions.events import FlowRunEvent

logger = logging.getLogger(__name__)

LINGER_SECONDS = 0.02
"""How long a change waits for others to share its notice; streams elsewhere lag as much."""
_READ_CHUNK = 1000
LogRange = tuple[uuid.UUID, int, int]
"""A flow run id and the first and last id of log records written for it in one batch."""


def log_ranges(records: Iterable[LogRecord]) -> list[LogRange]:
    """The id range of each flow run's records in one written batch."""
    ranges: dict[uuid.UUID, tuple[int, int]] = {}
    for record in records:
        first, last = ranges.get(record.flow_run_id, (record.id, record.id))
        ranges[record.flow_run_id] = (min(first, record.id), max(last, record.id))
    return [(run_id, first, last) for run_id, (first, last) in ranges.items()]


class ClusterNotices:
    """Sends this process's notices and feeds its streams with the others' (see above)."""

    def __init__(
        self,
        database: Database,
        events: Hub[FlowRunEvent],
        logs: Hub[tuple[LogRecord, ...]],
        publish: Callable[[Sequence[str]], Awaitable[None]],
    ) -> None:
        self._db = database
        self._events = events
        self._logs = logs
        self._publish = publish
        self._token = uuid.uuid4().hex[:16]
        self._sending_states: list[uuid.UUID] = []
        self._sending_logs: list[LogRange] = []
        self._received_states: list[uuid.UUID] = []
        self._received_logs: list[LogRange] = []
        self._to_send = asyncio.Event()
        self._received = asyncio.Event()
        events.relay_to(self._state_written)
        events.relay_ids_to(self._states_written)
        logs.relay_to(self._logs_written)

    def _state_written(self, event: FlowRunEvent) -> None:
        self._sending_states.append(event.state.id)
        self._to_send.set()

    def _states_written(self, state_ids: Sequence[uuid.UUID]) -> None:
        self._sending_states.extend(state_ids)
        self._to_send.set()

    def _logs_written(self, records: tuple[LogRecord, ...]) -> None:
        self._sending_logs.extend(log_ranges(records))
        self._to_send.set()

    def on_notice(self, notice: Notice) -> None:
        """A notice from another server process; those of other kinds are not for streams."""
        if notice.sender == self._token:
            return
        if isinstance(notice, StatesWritten):
            self._received_states.extend(notice.state_ids)
        elif isinstance(notice, LogsWritten):
            self._received_logs.extend(notice.ranges)
        else:
            return
        self._received.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._send())
            group.create_task(self._receive())

    async def _send(self) -> None:
        while True:
            await self._to_send.wait()
            await asyncio.sleep(LINGER_SECONDS)
            self._to_send.clear()
            states, self._sending_states = self._sending_states, []
            ranges, self._sending_logs = self._sending_logs, []
            outgoing = states_written(self._token, states)
            outgoing += logs_written(self._token, ranges)
            try:
                await self._publish(outgoing)
            except Exception as error:
                # Streams on other servers miss these changes; their next ones still come.
                logger.warning("could not tell other servers of %d changes: %s", len(states), error)

    async def _receive(self) -> None:
        while True:
            await self._received.wait()
            self._received.clear()
            states, self._received_states = self._received_states, []
            ranges, self._received_logs = self._received_logs, []
            try:
                await self._feed(states, ranges)
            except Exception as error:
                logger.warning("could not read changes other servers made: %s", error)

    async def _feed(self, states: list[uuid.UUID], ranges: list[LogRange]) -> None:
        states = states if self._events.subscriber_count else []
        ranges = ranges if self._logs.subscriber_count else []
        if not states and not ranges:
            return
        # In chunks, so that a backlog stays under the driver's limit of query parameters.
        for start in range(0, max(len(states), len(ranges)), _READ_CHUNK):
            async with self._db.read() as conn:
                chunk = states[start : start + _READ_CHUNK]
                await feed_states(conn, self._events, await changes.states_by_id(conn, chunk))
                chunk_ranges = ranges[start : start + _READ_CHUNK]
                feed_logs(self._logs, await changes.logs_in_ranges(conn, chunk_ranges))
