"""Queries on flow runs and their state history.

The statements of the state-proposal path are built once, here, with bind parameters:
that path runs thousands of times a second and must not rebuild them per call.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError

from runplane.server.db import postgresql, state_history
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.keyset import older_than
from runplane.server.db.run_filters import FlowRunQuery, flow_run_conditions
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
    flow_run_tag,
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


async def list_page(
    conn: AsyncConnection,
    query: FlowRunQuery,
    *,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[FlowRunRecord]:
    """Runs newest first, by (create_time, id), starting after the key `before`."""
    if conn.dialect.name == "postgresql":
        for setting in list_settings(query):
            await conn.execute(setting)
    statement = list_statement(query, conn.dialect.name, before=before, limit=limit)
    rows = await conn.execute(statement)
    return [flow_run_from_row(row._mapping) for row in rows]


def _one_tag_statement(
    tag: str, *, before: tuple[datetime, uuid.UUID] | None, limit: int
) -> sa.Select[Any]:
    """A list by one tag and nothing else: the page is the first ``limit`` keys of the tag in
    ``flow_run_tag``, newest first, and then its runs. The page is chosen before any run is
    read, so the plan cannot depend on how many runs the planner believes carry the tag (a
    table whose statistics lag its inserts would have it read and sort them all)."""
    t = flow_run_tag.c
    keys = sa.select(t.flow_run_id, t.create_time).where(t.tag == tag)
    if before is not None:
        keys = keys.where(older_than(t.create_time, t.flow_run_id, before))
    page = keys.order_by(t.create_time.desc(), t.flow_run_id.desc()).limit(limit).subquery("page")
    return SELECT_RUNS.join(page, page.c.flow_run_id == flow_run.c.id).order_by(
        page.c.create_time.desc(), page.c.flow_run_id.desc()
    )


# set_config(..., true) is SET LOCAL: both in one round trip.
_PLAN_WITH_VALUES = sa.text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
_PLAN_WITH_VALUES_IN_ORDER = sa.text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('enable_sort', 'off', true)"
)


def list_settings(query: FlowRunQuery) -> list[sa.TextClause]:
    """What PostgreSQL's planner is told, in the list's transaction, before it plans the list.

    A list's best plan depends on its values: a time range most runs fall in is found by
    reading the newest runs in order, a narrow one through its index. A generic plan of the
    prepared statement picks one for all values (and reads the whole table for the other),
    so each list is planned with its own.

    A list by one flow, deployment, state type, work pool or tag (or by several flows,
    deployments or state types: a list for each, merged) has an index that leads with
    that value and goes on in the list's order: reading it newest first yields the page and
    stops, however many or few runs have the value, so no sort can do better. The planner
    is kept from sorting there, because its choice rests on its statistics: with statistics
    that lag the table (a table grown since its last ANALYZE, or never analyzed where
    autovacuum is off) it expects a handful of runs where there are hundreds of thousands,
    and reads and sorts them all. Lists that also name runs, a parent or a time range are
    left to the planner: those select few runs, found through their own index and sorted.
    """
    return [_PLAN_WITH_VALUES_IN_ORDER if _has_ordered_index(query) else _PLAN_WITH_VALUES]


def _has_ordered_index(query: FlowRunQuery) -> bool:
    """Whether the list (or, by several values, each of its lists) leads with one value."""
    leading = (
        bool(query.flow_ids)
        or bool(query.deployment_ids)
        or bool(query.state_types)
        or query.work_pool_name is not None
        or bool(query.tags)
    )
    return leading and not _selective(query)


def _selective(query: FlowRunQuery) -> bool:
    return (
        bool(query.ids)
        or query.parent_task_run_id is not None
        or query.expected_before is not None
        or query.expected_after is not None
    )


def _one_value_each(query: FlowRunQuery) -> list[FlowRunQuery]:
    """A list by several flows, deployments or state types, as one list for each value (of
    the first such filter), each read in order from the index that leads with its column; []
    when no filter has several values, or when the list also names runs, a parent or a time
    range (those select few runs, found through their own index)."""
    if _selective(query):
        return []
    if len(query.state_types) > 1:
        return [replace(query, state_types=(value,)) for value in query.state_types]
    if len(query.flow_ids) > 1:
        return [replace(query, flow_ids=(value,)) for value in query.flow_ids]
    if len(query.deployment_ids) > 1:
        return [replace(query, deployment_ids=(value,)) for value in query.deployment_ids]
    return []


def _merged_statement(
    each: list[FlowRunQuery],
    dialect: str,
    *,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> sa.Select[Any]:
    """The newest ``limit`` runs of the lists ``each``, which no run is in twice: each list's
    own page, read in order and stopped, then the pages merged. An IN over the values could
    not be read in order from any index, and would be read either from the newest runs of
    every kind, until a page of the values is found, or whole and sorted: the planner picks
    by its statistics, and a wrong pick reads most of the table."""
    pages = []
    for query in each:
        page = SELECT_RUNS.where(*flow_run_conditions(query, dialect))
        if before is not None:
            page = page.where(older_than(flow_run.c.create_time, flow_run.c.id, before))
        page = page.order_by(flow_run.c.create_time.desc(), flow_run.c.id.desc()).limit(limit)
        pages.append(sa.select(page.subquery()))
    merged = sa.union_all(*pages).subquery("merged")
    return sa.select(merged).order_by(merged.c.create_time.desc(), merged.c.id.desc()).limit(limit)


def list_statement(
    query: FlowRunQuery, dialect: str, *, before: tuple[datetime, uuid.UUID] | None, limit: int
) -> sa.Select[Any]:
    """The SELECT of `list_page`.

    Filtered by tags, the runs are those of the first tag's rows in ``flow_run_tag``, read
    newest first from its key, which holds each run's create time: the page is read in
    order and the read stops after it, whether the tag is common or rare, its runs new or
    old. The other tags are conditions on those runs."""
    if not query.tags and (each := _one_value_each(query)):
        return _merged_statement(each, dialect, before=before, limit=limit)
    if not query.tags:
        statement = SELECT_RUNS.where(*flow_run_conditions(query, dialect))
        time_column, id_column = flow_run.c.create_time, flow_run.c.id
    elif query == FlowRunQuery(tags=query.tags[:1]):
        return _one_tag_statement(query.tags[0], before=before, limit=limit)
    else:
        tag = flow_run_tag.c
        # Not also on create_time: the planner would take the two equalities for independent
        # and expect no row at all, and then sort rather than read in order.
        on_tag = sa.and_(tag.flow_run_id == flow_run.c.id, tag.tag == query.tags[0])
        rest = replace(query, tags=query.tags[1:])
        statement = SELECT_RUNS.join(flow_run_tag, on_tag).where(
            *flow_run_conditions(rest, dialect)
        )
        time_column, id_column = tag.create_time, tag.flow_run_id
    if before is not None:
        statement = statement.where(older_than(time_column, id_column, before))
    statement = statement.order_by(time_column.desc(), id_column.desc())
    return statement.limit(limit)


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
