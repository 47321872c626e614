"""Queries on flow runs and their state history.

The statements of the state-proposal path are built once, here, with bind parameters:
that path runs thousands of times a second and must not rebuild them per call.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError

from runplane.server.db import postgresql, state_history
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.run_records import (
    DeploymentGate,
    FlowRunRecord,
    LockedRun,
    ReferenceMissing,
    StateRecord,
    StateWrite,
    history_columns,
    outcome_from_row,
    state_columns,
    state_from_row,
    times_from_row,
)
from runplane.server.db.tables import (
    DEFAULT_RUNTIME,
    deployment,
    flow,
    flow_run,
    flow_run_state,
)
from runplane.server.orchestration.rules import SLOT_HOLDING_TYPES

Connection = AsyncConnection
"""The connection of an open transaction, for the servicers' type hints."""


@dataclass(frozen=True, slots=True)
class NewFlowRun:
    id: uuid.UUID
    flow_id: uuid.UUID
    name: str
    deployment_id: uuid.UUID | None
    parameters: dict[str, Any]
    tags: list[str]
    idempotency_key: str | None
    parent_task_run_id: uuid.UUID | None
    retries: int
    retry_delays: list[float]
    job_variables: dict[str, Any]
    work_pool_name: str | None
    work_queue_name: str | None
    flow_version: str | None
    heartbeat_time: datetime | None = None
    """Set when the creator will heartbeat the run: the heartbeat reaper watches it from now."""
    runtime: str = DEFAULT_RUNTIME
    """Its deployment's: only runners of this runtime are handed the run."""


def flow_run_from_row(mapping: Any) -> FlowRunRecord:
    return FlowRunRecord(
        id=mapping["id"],
        name=mapping["name"],
        flow_id=mapping["flow_id"],
        flow_name=mapping["flow_name"],
        deployment_id=mapping["deployment_id"],
        state=state_from_row(mapping),
        parameters=mapping["parameters"],
        tags=mapping["tags"],
        times=times_from_row(mapping),
        idempotency_key=mapping["idempotency_key"],
        parent_task_run_id=mapping["parent_task_run_id"],
        retries=mapping["retries"],
        retry_delays=mapping["retry_delays"],
        job_variables=mapping["job_variables"],
        work_pool_name=mapping["work_pool_name"],
        work_queue_name=mapping["work_queue_name"],
        flow_version=mapping["flow_version"],
        attempt=mapping["attempt"],
        heartbeat_time=mapping["heartbeat_time"],
        create_time=mapping["create_time"],
        update_time=mapping["update_time"],
        runtime=mapping["runtime"],
    )


SELECT_RUNS = sa.select(flow_run, flow.c.name.label("flow_name")).join(
    flow, flow.c.id == flow_run.c.flow_id
)

LOCK_COLUMNS = (
    flow_run.c.id,
    flow_run.c.deployment_id,
    flow_run.c.parent_task_run_id,
    *(column for column in flow_run.c if column.name.startswith(("state_", "last_"))),
    flow_run.c.run_count,
    flow_run.c.start_time,
    flow_run.c.end_time,
    flow_run.c.total_run_time,
    flow_run.c.expected_start_time,
    flow_run.c.next_scheduled_start_time,
    flow_run.c.retries,
    flow_run.c.retry_delays,
    flow_run.c.lease_id,
    flow_run.c.lease_expire_time,
    flow_run.c.work_pool_name,
    flow.c.name.label("flow_name"),
    deployment.c.concurrency_limit,
    deployment.c.collision_strategy,
)
"""What orchestrating a proposal reads of a run, its flow and its deployment."""

LOCK_FROM = flow_run.join(flow, flow.c.id == flow_run.c.flow_id).outerjoin(
    deployment, deployment.c.id == flow_run.c.deployment_id
)

_LOCK = (
    sa.select(*LOCK_COLUMNS)
    .select_from(LOCK_FROM)
    .where(flow_run.c.id == sa.bindparam("run_id"))
    .with_for_update(of=flow_run)
)

WRITE_COLUMNS = (
    *(c.name for c in flow_run.c if c.name.startswith(("state_", "last_"))),
    "run_count",
    "start_time",
    "end_time",
    "total_run_time",
    "expected_start_time",
    "next_scheduled_start_time",
    "update_time",
    "lease_id",
    "lease_expire_time",
)

UPDATE = (
    sa.update(flow_run)
    .where(flow_run.c.id == sa.bindparam("b_run_id"))
    .values({name: sa.bindparam(f"b_{name}") for name in WRITE_COLUMNS})
)

INSERT_STATE = sa.insert(flow_run_state)

# PostgreSQL takes the state row and the run row in one statement: one round trip less on
# the hottest path. SQLite cannot put an INSERT in a WITH clause, so it runs the two apart.
WRITE_BOTH = UPDATE.add_cte(
    sa.insert(flow_run_state)
    .values({c.name: sa.bindparam(f"s_{c.name}") for c in flow_run_state.c})
    .cte("new_state")
)

_LOCK_DEPLOYMENT = (
    sa.select(deployment.c.concurrency_limit, deployment.c.collision_strategy)
    .where(deployment.c.id == sa.bindparam("deployment_id"))
    .with_for_update()
)

_COUNT_ACTIVE = (
    sa.select(sa.func.count())
    .select_from(flow_run)
    .where(
        flow_run.c.deployment_id == sa.bindparam("deployment_id"),
        flow_run.c.id != sa.bindparam("run_id"),
        flow_run.c.state_type.in_(sorted(SLOT_HOLDING_TYPES)),
    )
)


async def flow_name(conn: AsyncConnection, flow_id: uuid.UUID) -> str | None:
    result = await conn.execute(sa.select(flow.c.name).where(flow.c.id == flow_id))
    return result.scalar_one_or_none()


async def deployment_gate(
    conn: AsyncConnection, deployment_id: uuid.UUID
) -> tuple[bool, DeploymentGate | None]:
    """Whether the deployment exists and, locked, its concurrency limit if it has one.

    The lock makes proposals that take the deployment's slots queue up, so that two of them
    cannot both count the same free slot.
    """
    row = (await conn.execute(_LOCK_DEPLOYMENT, {"deployment_id": deployment_id})).first()
    if row is None:
        return False, None
    if row.concurrency_limit is None:
        return True, None
    return True, DeploymentGate(row.concurrency_limit, row.collision_strategy)


async def count_active(conn: AsyncConnection, deployment_id: uuid.UUID, run_id: uuid.UUID) -> int:
    """How many other runs of the deployment hold a slot (are PENDING, RUNNING or CANCELLING)."""
    params = {"deployment_id": deployment_id, "run_id": run_id}
    return int((await conn.execute(_COUNT_ACTIVE, params)).scalar_one())


def run_values(run: NewFlowRun, write: StateWrite) -> dict[str, Any]:
    return {
        **{f: getattr(run, f) for f in NewFlowRun.__dataclass_fields__},
        **state_columns(write),
        "next_scheduled_start_time": write.times.next_scheduled_start_time,
        "create_time": write.update_time,
    }


RUN_INSERT_COLUMNS = (
    *NewFlowRun.__dataclass_fields__,
    *(c.name for c in flow_run.c if c.name.startswith(("state_", "last_"))),
    "run_count",
    "start_time",
    "end_time",
    "total_run_time",
    "expected_start_time",
    "update_time",
    "next_scheduled_start_time",
    "create_time",
)
_STATE_COLUMNS = [c for c in flow_run_state.c if c.name != "flow_run_id"]


@functools.cache
def _insert_both() -> sa.Insert:
    """PostgreSQL: the run and its first state in one statement. The state is inserted from
    what the run's INSERT returns, so a run that clashes (ON CONFLICT DO NOTHING) gets no
    state."""
    new_run = (
        postgresql.insert(flow_run)
        .values({name: sa.bindparam(f"r_{name}") for name in RUN_INSERT_COLUMNS})
        .on_conflict_do_nothing()
        .returning(flow_run.c.id)
        .cte("new_run")
    )
    return (
        sa.insert(flow_run_state)
        .from_select(
            [*(c.name for c in _STATE_COLUMNS), "flow_run_id"],
            sa.select(
                *(sa.bindparam(f"s_{c.name}", type_=c.type) for c in _STATE_COLUMNS), new_run.c.id
            ),
        )
        .returning(flow_run_state.c.flow_run_id)
    )


async def insert(conn: AsyncConnection, run: NewFlowRun, write: StateWrite) -> bool:
    """Inserts the run with its first state; False when its id or idempotency key is taken."""
    values = run_values(run, write)
    history = history_columns(write.state)
    try:
        if conn.dialect.name == "postgresql":
            params = {f"r_{name}": value for name, value in values.items()}
            params.update({f"s_{name}": value for name, value in history.items()})
            return (await conn.execute(_insert_both(), params)).first() is not None
        statement = sqlite.insert(flow_run).values(values).on_conflict_do_nothing()
        result = await conn.execute(statement.returning(flow_run.c.id))
    except IntegrityError:
        raise ReferenceMissing("flow", run.flow_id) from None
    if result.first() is None:
        return False
    await conn.execute(INSERT_STATE, {**history, "flow_run_id": run.id})
    return True


def created_record(run: NewFlowRun, write: StateWrite, flow_name: str) -> FlowRunRecord:
    """The run as `insert` wrote it, without reading it back."""
    return FlowRunRecord(
        id=run.id,
        name=run.name,
        flow_id=run.flow_id,
        flow_name=flow_name,
        deployment_id=run.deployment_id,
        state=write.state,
        parameters=run.parameters,
        tags=run.tags,
        times=write.times,
        idempotency_key=run.idempotency_key,
        parent_task_run_id=run.parent_task_run_id,
        retries=run.retries,
        retry_delays=run.retry_delays,
        job_variables=run.job_variables,
        work_pool_name=run.work_pool_name,
        work_queue_name=run.work_queue_name,
        flow_version=run.flow_version,
        attempt=0,
        heartbeat_time=run.heartbeat_time,
        create_time=write.update_time,
        update_time=write.update_time,
        runtime=run.runtime,
    )


async def get(conn: AsyncConnection, run_id: uuid.UUID) -> FlowRunRecord | None:
    row = (await conn.execute(SELECT_RUNS.where(flow_run.c.id == run_id))).first()
    return flow_run_from_row(row._mapping) if row else None


async def get_by_idempotency_key(
    conn: AsyncConnection, flow_id: uuid.UUID, key: str
) -> FlowRunRecord | None:
    query = SELECT_RUNS.where(flow_run.c.flow_id == flow_id, flow_run.c.idempotency_key == key)
    row = (await conn.execute(query)).first()
    return flow_run_from_row(row._mapping) if row else None


async def delete(conn: AsyncConnection, run_id: uuid.UUID) -> bool:
    result = await conn.execute(sa.delete(flow_run).where(flow_run.c.id == run_id))
    return result.rowcount > 0


async def exists(conn: AsyncConnection, run_id: uuid.UUID) -> bool:
    result = await conn.execute(sa.select(flow_run.c.id).where(flow_run.c.id == run_id))
    return result.first() is not None


async def lock(conn: AsyncConnection, run_id: uuid.UUID) -> LockedRun | None:
    """The run's orchestration columns, its row locked until the transaction ends."""
    row = (await conn.execute(_LOCK, {"run_id": run_id})).first()
    return None if row is None else locked_from_row(row._mapping)


def locked_from_row(m: Any) -> LockedRun:
    """A run read with LOCK_COLUMNS."""
    gate = None
    if m["concurrency_limit"] is not None:
        gate = DeploymentGate(m["concurrency_limit"], m["collision_strategy"])
    return LockedRun(
        id=m["id"],
        state=state_from_row(m),
        last=outcome_from_row(m),
        times=times_from_row(m),
        retries=m["retries"],
        retry_delays=m["retry_delays"],
        deployment_id=m["deployment_id"],
        deployment_gate=gate,
        parent_task_run_id=m["parent_task_run_id"],
        lease_id=m["lease_id"],
        lease_expire_time=m["lease_expire_time"],
        flow_name=m["flow_name"],
        work_pool_name=m["work_pool_name"],
    )


def update_params(run: LockedRun, write: StateWrite) -> dict[str, Any]:
    """The bind parameters of UPDATE for writing `write` on the locked run."""
    params = {f"b_{name}": value for name, value in state_columns(write).items()}
    params["b_run_id"] = run.id
    params["b_next_scheduled_start_time"] = write.times.next_scheduled_start_time
    params["b_lease_id"] = None if write.clear_lease else run.lease_id
    params["b_lease_expire_time"] = None if write.clear_lease else run.lease_expire_time
    return params


async def write_state(
    conn: AsyncConnection, run: LockedRun, write: StateWrite, *, fetch: bool = False
) -> FlowRunRecord | None:
    """Records the state and updates the locked run's row; with `fetch`, returns the run."""
    params = update_params(run, write)
    history = {**history_columns(write.state), "flow_run_id": run.id}
    if conn.dialect.name == "postgresql":
        params.update({f"s_{name}": value for name, value in history.items()})
        await conn.execute(WRITE_BOTH, params)
    else:
        await conn.execute(UPDATE, params)
        await conn.execute(INSERT_STATE, history)
    return await get(conn, run.id) if fetch else None


async def list_states(
    conn: AsyncConnection, run_id: uuid.UUID, *, after: datetime | None, limit: int
) -> list[StateRecord]:
    """The run's states, oldest first."""
    return await state_history.list_states(
        conn, flow_run_state.c.flow_run_id, run_id, after=after, limit=limit
    )
