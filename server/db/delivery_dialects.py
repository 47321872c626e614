"""Where work delivery differs between PostgreSQL and SQLite: the claim query and waking
other server processes.

PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` (two servers never pick the same row and
never wait on each other) and wakes the other servers with ``NOTIFY`` (ids and names only).
SQLite has a single writer: the claim is a plain read inside the serialized write
transaction, and other processes on the same file rely on their sweep.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.engine import Database
from runplane.server.db.pool_rules import DueSelection
from runplane.server.db.tables import DEFAULT_RUNTIME, deployment, flow_run
from runplane.server.orchestration.states import StateType

logger = logging.getLogger(__name__)

CHANNEL = "runplane_work"
_NOTIFY_ALL = sa.text(
    "SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"
)
_RECONNECT_DELAY = 1.0


class DeliveryDialect(Protocol):
    async def due_run_ids(
        self,
        conn: AsyncConnection,
        pool: str,
        queues: Sequence[str],
        now: datetime,
        limit: int,
        selection: DueSelection,
        runtimes: Sequence[str] = (DEFAULT_RUNTIME,),
    ) -> list[uuid.UUID]:
        """Up to ``limit`` due runs of the pool and of these runtimes in claim order, locked
        for this transaction."""
        ...

    async def publish(self, payloads: Sequence[str]) -> None:
        """Tells the other server processes (after the caller's commit)."""
        ...

    async def listen(
        self, on_payload: Callable[[str], None], on_connect: Callable[[], None]
    ) -> None:
        """Calls ``on_payload`` for what other processes publish, until cancelled."""
        ...


def _due(
    pool: str,
    queues: Sequence[str],
    now: datetime,
    limit: int,
    selection: DueSelection,
    runtimes: Sequence[str],
) -> sa.Select[Any]:
    """Due SCHEDULED runs of the pool and of the runtimes that may be handed out now: by queue
    priority when the selection ranks queues, then earliest first."""
    # A deployment limited to 0 runs never starts one; claiming would only find that again.
    closed_deployment = (
        sa.exists()
        .where(deployment.c.id == flow_run.c.deployment_id, deployment.c.concurrency_limit == 0)
        .correlate(flow_run)
    )
    query = sa.select(flow_run.c.id).where(
        flow_run.c.work_pool_name == pool,
        flow_run.c.state_type == StateType.SCHEDULED,
        flow_run.c.runtime.in_(list(runtimes)),
        flow_run.c.next_scheduled_start_time <= now,
        ~closed_deployment,
    )
    if queues:
        query = query.where(flow_run.c.work_queue_name.in_(list(queues)))
    if selection.excluded_queues:
        query = query.where(
            sa.or_(
                flow_run.c.work_queue_name.is_(None),
                flow_run.c.work_queue_name.not_in(sorted(selection.excluded_queues)),
            )
        )
    order: list[sa.ColumnElement[Any]] = []
    if selection.priorities is not None:
        rank = sa.case(
            selection.priorities, value=flow_run.c.work_queue_name, else_=selection.default_priority
        )
        order.append(rank)
    order += [flow_run.c.next_scheduled_start_time, flow_run.c.id]
    return query.order_by(*order).limit(limit)


class PostgresDelivery:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._url = make_url(database.url).set(drivername="postgresql")

    async def due_run_ids(
        self,
        conn: AsyncConnection,
        pool: str,
        queues: Sequence[str],
        now: datetime,
        limit: int,
        selection: DueSelection,
        runtimes: Sequence[str] = (DEFAULT_RUNTIME,),
    ) -> list[uuid.UUID]:
        query = _due(pool, queues, now, limit, selection, runtimes).with_for_update(
            skip_locked=True, of=flow_run
        )
        return list((await conn.execute(query)).scalars())

    async def publish(self, payloads: Sequence[str]) -> None:
        if not payloads:
            return
        # One statement for all payloads, outside a transaction block: one round trip, where
        # a transaction would add its BEGIN and COMMIT. The payloads go out in array order.
        async with self._database.engine.connect() as raw:
            conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(_NOTIFY_ALL, {"channel": CHANNEL, "payloads": list(payloads)})

    async def listen(
        self, on_payload: Callable[[str], None], on_connect: Callable[[], None]
    ) -> None:
        """Keeps one dedicated connection listening; reconnects when it breaks."""
        # Imported here, on PostgreSQL only: the import costs half a second, which every
        # command on the embedded SQLite default would otherwise pay.
        import psycopg

        conninfo = self._url.render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    # Whatever was published while not listening is found by a full pass.
                    on_connect()
                    async for notify in conn.notifies():
                        on_payload(notify.payload)
            except psycopg.Error as error:
                logger.warning("work notifications: %s; listening again shortly", error)
            await asyncio.sleep(_RECONNECT_DELAY)


class SqliteDelivery:
    async def due_run_ids(
        self,
        conn: AsyncConnection,
        pool: str,
        queues: Sequence[str],
        now: datetime,
        limit: int,
        selection: DueSelection,
        runtimes: Sequence[str] = (DEFAULT_RUNTIME,),
    ) -> list[uuid.UUID]:
        query = _due(pool, queues, now, limit, selection, runtimes)
        return list((await conn.execute(query)).scalars())

    async def publish(self, payloads: Sequence[str]) -> None:
        return None

    async def listen(
        self, on_payload: Callable[[str], None], on_connect: Callable[[], None]
    ) -> None:
        await asyncio.Event().wait()  # nothing to listen to; ends when cancelled


def delivery_dialect(database: Database) -> DeliveryDialect:
    return PostgresDelivery(database) if database.is_postgres else SqliteDelivery()


async def earliest_scheduled(
    conn: AsyncConnection, pools: Sequence[str], after: datetime
) -> datetime | None:
    """The earliest scheduled time after ``after`` among the pools' SCHEDULED runs."""
    if not pools:
        return None
    query = sa.select(sa.func.min(flow_run.c.next_scheduled_start_time)).where(
        flow_run.c.work_pool_name.in_(list(pools)),
        flow_run.c.state_type == StateType.SCHEDULED,
        flow_run.c.next_scheduled_start_time > after,
    )
    value: datetime | None = (await conn.execute(query)).scalar_one_or_none()
    return value
