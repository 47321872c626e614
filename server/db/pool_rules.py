"""What a claim must respect in a work pool: pauses, queue priorities and concurrency limits.

A claim reads the pool's rules once (one small query). Only when the pool or one of its
queues has a concurrency limit does it lock the pool row and count the runs holding a slot,
so that claims of two server processes on one PostgreSQL cannot both fill the last slot;
pools without limits pay nothing more. The lock is ``FOR NO KEY UPDATE``: creating a queue
(whose foreign key takes ``FOR KEY SHARE`` on the pool row) does not wait for it.

Runs whose queue has no row in the pool (or no queue name) have no queue limit and rank with
the pool's last queue, the one with the highest priority number: a pool whose queues share
one priority (as a pool with only its default queue does) orders its due runs by time alone,
which keeps the claim query on its index.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.tables import flow_run, work_pool, work_queue
from runplane.server.orchestration.rules import SLOT_HOLDING_TYPES


@dataclass(frozen=True, slots=True)
class QueueRule:
    priority: int
    paused: bool
    concurrency_limit: int | None


@dataclass(frozen=True, slots=True)
class DueSelection:
    """Which due runs a claim may take and in which order, beyond time."""

    excluded_queues: frozenset[str] = frozenset()
    """Queues whose runs are not handed out now: paused, or at their concurrency limit."""
    priorities: Mapping[str, int] | None = None
    """Priority of each queue when the candidate queues differ in priority; else None."""
    default_priority: int = 0
    """Priority of runs whose queue is not in ``priorities``."""


@dataclass(frozen=True, slots=True)
class PoolRules:
    id: uuid.UUID
    paused: bool
    concurrency_limit: int | None
    queues: Mapping[str, QueueRule]

    @property
    def limited(self) -> bool:
        """Whether the pool or one of its queues limits how many runs may be active."""
        if self.concurrency_limit is not None:
            return True
        return any(q.concurrency_limit is not None for q in self.queues.values())

    def selection(self, wanted: Sequence[str], full: frozenset[str]) -> DueSelection:
        """What to take for a subscriber of ``wanted`` queues (all when empty)."""
        paused = frozenset(name for name, q in self.queues.items() if q.paused)
        last = max((q.priority for q in self.queues.values()), default=0)
        names = list(wanted) if wanted else list(self.queues)
        ranks = {self._priority(name, last) for name in names}
        if not wanted:
            ranks.add(last)  # runs of queues without a row
        priorities = None
        if len(ranks) > 1:
            priorities = {name: q.priority for name, q in self.queues.items()}
        return DueSelection(paused | full, priorities, last)

    def _priority(self, name: str, last: int) -> int:
        rule = self.queues.get(name)
        return rule.priority if rule is not None else last


@dataclass(slots=True)
class Room:
    """How many more runs may become active: in the pool (None: no limit) and per queue."""

    pool: int | None
    queues: dict[str, int] = field(default_factory=dict)

    @property
    def full_queues(self) -> frozenset[str]:
        return frozenset(name for name, left in self.queues.items() if left <= 0)

    def admits(self, queue: str | None) -> bool:
        if self.pool is not None and self.pool <= 0:
            return False
        return queue is None or self.queues.get(queue, 1) > 0

    def take(self, queue: str | None) -> None:
        if self.pool is not None:
            self.pool -= 1
        if queue is not None and queue in self.queues:
            self.queues[queue] -= 1


async def read(conn: AsyncConnection, pool: str) -> PoolRules | None:
    """The pool's rules with those of its queues; None when the pool has no row."""
    query = (
        sa.select(
            work_pool.c.id,
            work_pool.c.paused,
            work_pool.c.concurrency_limit,
            work_queue.c.name.label("queue_name"),
            work_queue.c.priority.label("queue_priority"),
            work_queue.c.paused.label("queue_paused"),
            work_queue.c.concurrency_limit.label("queue_limit"),
        )
        .select_from(work_pool.outerjoin(work_queue, work_queue.c.work_pool_id == work_pool.c.id))
        .where(work_pool.c.name == pool)
    )
    rows = (await conn.execute(query)).all()
    if not rows:
        return None
    queues = {
        row.queue_name: QueueRule(row.queue_priority, row.queue_paused, row.queue_limit)
        for row in rows
        if row.queue_name is not None
    }
    first = rows[0]
    return PoolRules(first.id, first.paused, first.concurrency_limit, queues)


async def lock_and_measure(conn: AsyncConnection, pool: str, rules: PoolRules) -> Room:
    """Locks the pool row until the transaction ends, then counts what its limits leave."""
    lock = (
        sa.select(work_pool.c.id).where(work_pool.c.id == rules.id).with_for_update(key_share=True)
    )
    await conn.execute(lock)
    query = (
        sa.select(flow_run.c.work_queue_name, sa.func.count())
        .where(
            flow_run.c.work_pool_name == pool,
            flow_run.c.state_type.in_(sorted(SLOT_HOLDING_TYPES)),
        )
        .group_by(flow_run.c.work_queue_name)
    )
    active: dict[str | None, int] = {row[0]: row[1] for row in await conn.execute(query)}
    pool_room = None
    if rules.concurrency_limit is not None:
        pool_room = rules.concurrency_limit - sum(active.values())
    queues = {
        name: q.concurrency_limit - active.get(name, 0)
        for name, q in rules.queues.items()
        if q.concurrency_limit is not None
    }
    return Room(pool_room, queues)
