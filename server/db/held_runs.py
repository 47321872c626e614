"""Flow runs as the server's own loops see them: claims, reapers and the late marker.

The loops read runs under a row lock (skipping rows another server process holds on
PostgreSQL), decide with the same rules as a client's proposal, and write the state with
:func:`write_state`, in the same row format as every other state write.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.run_records import (
    Outcome,
    RunTimesRecord,
    StateRecord,
    StateWrite,
    history_columns,
    outcome_from_row,
    state_columns,
    state_from_row,
    times_from_row,
)
from runplane.server.db.tables import flow_run, flow_run_state
from runplane.server.orchestration.states import SUSPENDED, StateType


@dataclass(frozen=True, slots=True)
class HeldRun:
    """A run row read under its lock: what deciding a state for it needs."""

    id: uuid.UUID
    flow_id: uuid.UUID
    deployment_id: uuid.UUID | None
    parent_task_run_id: uuid.UUID | None
    work_pool_name: str | None
    work_queue_name: str | None
    state: StateRecord | None
    last: Outcome | None
    times: RunTimesRecord
    retries: int
    retry_delays: list[float]
    attempt: int
    lease_id: uuid.UUID | None
    lease_expire_time: datetime | None
    runner_session_id: uuid.UUID | None
    runtime: str

    @classmethod
    def from_row(cls, row: Any) -> HeldRun:
        m = row._mapping
        return cls(
            id=m["id"],
            flow_id=m["flow_id"],
            deployment_id=m["deployment_id"],
            parent_task_run_id=m["parent_task_run_id"],
            work_pool_name=m["work_pool_name"],
            work_queue_name=m["work_queue_name"],
            state=state_from_row(m),
            last=outcome_from_row(m),
            times=times_from_row(m),
            retries=m["retries"],
            retry_delays=list(m["retry_delays"] or []),
            attempt=m["attempt"],
            lease_id=m["lease_id"],
            lease_expire_time=m["lease_expire_time"],
            runner_session_id=m["runner_session_id"],
            runtime=m["runtime"],
        )


def _locked(where: Sequence[sa.ColumnElement[bool]], *, skip_locked: bool) -> sa.Select[Any]:
    return sa.select(flow_run).where(*where).with_for_update(skip_locked=skip_locked)


async def lock(conn: AsyncConnection, run_ids: Sequence[uuid.UUID]) -> list[HeldRun]:
    """The runs with these ids, locked until the transaction ends, in scheduled order."""
    if not run_ids:
        return []
    query = _locked([flow_run.c.id.in_(run_ids)], skip_locked=False).order_by(
        flow_run.c.next_scheduled_start_time, flow_run.c.id
    )
    return [HeldRun.from_row(row) for row in await conn.execute(query)]


async def lock_matching(
    conn: AsyncConnection, where: Sequence[sa.ColumnElement[bool]], limit: int
) -> list[HeldRun]:
    """Up to ``limit`` runs matching ``where``, locked; rows locked elsewhere are skipped."""
    query = _locked(where, skip_locked=True).order_by(flow_run.c.id).limit(limit)
    return [HeldRun.from_row(row) for row in await conn.execute(query)]


async def write_state(
    conn: AsyncConnection, run_id: uuid.UUID, write: StateWrite, extra: Mapping[str, Any]
) -> None:
    """Records the state on the run row and in its history; ``extra`` sets more columns."""
    values = {
        **state_columns(write),
        "next_scheduled_start_time": write.times.next_scheduled_start_time,
        **extra,
    }
    if write.clear_lease:
        values.update(lease_id=None, lease_expire_time=None)
    await conn.execute(sa.update(flow_run).where(flow_run.c.id == run_id).values(**values))
    history = {**history_columns(write.state), "flow_run_id": run_id}
    await conn.execute(sa.insert(flow_run_state).values(**history))


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a run, for pushing a cancellation to its stream."""

    state_type: int | None
    runner_session_id: uuid.UUID | None


async def holders(conn: AsyncConnection, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Holder]:
    query = sa.select(flow_run.c.id, flow_run.c.state_type, flow_run.c.runner_session_id).where(
        flow_run.c.id.in_(list(run_ids))
    )
    return {
        row.id: Holder(row.state_type, row.runner_session_id) for row in await conn.execute(query)
    }


async def cancelling_held_by(
    conn: AsyncConnection, session_ids: Sequence[uuid.UUID], limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(run id, session id) of CANCELLING runs held by these subscriptions."""
    if not session_ids:
        return []
    query = (
        sa.select(flow_run.c.id, flow_run.c.runner_session_id)
        .where(
            flow_run.c.state_type == StateType.CANCELLING,
            flow_run.c.runner_session_id.in_(list(session_ids)),
        )
        .limit(limit)
    )
    return [(row.id, row.runner_session_id) for row in await conn.execute(query)]


async def still_holding(
    conn: AsyncConnection, session_id: uuid.UUID, run_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these runs still occupy a slot of the subscription: handed to it and PENDING,
    RUNNING, CANCELLING or PAUSED (but not Suspended, which has no process)."""
    if not run_ids:
        return set()
    query = sa.select(flow_run.c.id).where(
        flow_run.c.id.in_(list(run_ids)),
        flow_run.c.runner_session_id == session_id,
        flow_run.c.state_type.in_(
            (StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING)
        ),
        sa.or_(flow_run.c.state_type != StateType.PAUSED, flow_run.c.state_name != SUSPENDED),
    )
    return set((await conn.execute(query)).scalars())


async def adopt_leases(
    conn: AsyncConnection,
    lease_ids: Sequence[uuid.UUID],
    runner_id: uuid.UUID,
    session_id: uuid.UUID,
) -> list[uuid.UUID]:
    """Moves the runs held under these leases to a runner's new subscription; their ids."""
    if not lease_ids:
        return []
    statement = (
        sa.update(flow_run)
        .where(flow_run.c.lease_id.in_(list(lease_ids)), flow_run.c.runner_id == runner_id)
        .values(runner_session_id=session_id)
        .returning(flow_run.c.id)
    )
    return list((await conn.execute(statement)).scalars())
