"""Queries on deployments and their schedules."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from runplane.server.db import flows
from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.records import FlowRecord, _FromRow
from runplane.server.db.tables import deployment, deployment_schedule, flow, flow_run
from runplane.server.db.upsert import insert_ignoring_conflict
from runplane.server.orchestration.states import StateType


@dataclass(frozen=True, slots=True)
class ScheduleValues:
    """One schedule as written: ``kind`` is "cron", "interval" or "rrule", its fields in spec."""

    active: bool
    parameters: dict[str, Any]
    catchup: int
    kind: str
    spec: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScheduleRecord(_FromRow):
    id: uuid.UUID
    position: int
    active: bool
    parameters: dict[str, Any]
    catchup: int
    kind: str
    spec: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeploymentValues:
    """Everything CreateDeployment sets besides the flow and the name."""

    entrypoint: str
    description: str
    version: str
    tags: list[str]
    parameters: dict[str, Any]
    parameter_schema: dict[str, Any]
    enforce_parameter_schema: bool
    paused: bool
    concurrency_limit: int | None
    collision_strategy: int
    work_pool_name: str
    work_queue_name: str
    job_variables: dict[str, Any]
    retries: int
    retry_delays: list[float]
    runtime: str


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    id: uuid.UUID
    flow_id: uuid.UUID
    flow_name: str
    name: str
    entrypoint: str
    description: str
    version: str
    tags: list[str]
    parameters: dict[str, Any]
    parameter_schema: dict[str, Any]
    enforce_parameter_schema: bool
    paused: bool
    concurrency_limit: int | None
    collision_strategy: int
    work_pool_name: str
    work_queue_name: str
    job_variables: dict[str, Any]
    retries: int
    retry_delays: list[float]
    runtime: str
    create_time: datetime
    update_time: datetime
    schedules: tuple[ScheduleRecord, ...]

    @classmethod
    def from_parts(cls, row: Any, schedules: Sequence[ScheduleRecord]) -> DeploymentRecord:
        mapping = row._mapping
        values = {f.name: mapping[f.name] for f in fields(cls) if f.name != "schedules"}
        return cls(**values, schedules=tuple(schedules))


async def resolve_flow(
    conn: AsyncConnection, flow_id: uuid.UUID | None, flow_name: str | None, now: datetime
) -> FlowRecord | None:
    """The flow with the given id (None when missing), else the named one, registered when
    missing."""
    if flow_id is not None:
        return await flows.get(conn, flow_id)
    assert flow_name is not None  # one of the two is required
    record, _ = await flows.create_or_get(conn, flow_name, [], now)
    return record


async def upsert(
    conn: AsyncConnection,
    flow_id: uuid.UUID,
    name: str,
    values: DeploymentValues,
    schedules: Sequence[ScheduleValues],
    now: datetime,
) -> tuple[uuid.UUID, bool]:
    """Creates the deployment of this flow with this name, or overwrites it; True when created."""
    row = {"flow_id": flow_id, "name": name, **asdict(values), "update_time": now}
    new_id = uuid.uuid4()
    created = await insert_ignoring_conflict(
        conn, deployment, {**row, "id": new_id, "create_time": now}, ["flow_id", "name"]
    )
    if created:
        deployment_id = new_id
    else:
        # The update locks the row, so concurrent writers replace the schedules one at a time.
        statement = (
            sa.update(deployment)
            .where(deployment.c.flow_id == flow_id, deployment.c.name == name)
            .values(**row)
            .returning(deployment.c.id)
        )
        deployment_id = (await conn.execute(statement)).scalar_one()
        await _retarget_waiting_runs(conn, deployment_id, values.runtime)
    await replace_schedules(conn, deployment_id, schedules)
    return deployment_id, created


async def _retarget_waiting_runs(
    conn: AsyncConnection, deployment_id: uuid.UUID, runtime: str
) -> None:
    """Runs not yet handed out go to runners of the deployment's runtime as it is now."""
    await conn.execute(
        sa.update(flow_run)
        .where(
            flow_run.c.deployment_id == deployment_id,
            flow_run.c.state_type == StateType.SCHEDULED,
            flow_run.c.runtime != runtime,
        )
        .values(runtime=runtime)
    )


async def update_fields(
    conn: AsyncConnection, deployment_id: uuid.UUID, changes: Mapping[str, Any], now: datetime
) -> bool:
    """Sets the given columns (and the update time); False when the deployment is missing."""
    statement = (
        sa.update(deployment)
        .where(deployment.c.id == deployment_id)
        .values(**changes, update_time=now)
    )
    result = await conn.execute(statement)
    return result.rowcount > 0


async def replace_schedules(
    conn: AsyncConnection, deployment_id: uuid.UUID, schedules: Sequence[ScheduleValues]
) -> None:
    await conn.execute(
        sa.delete(deployment_schedule).where(deployment_schedule.c.deployment_id == deployment_id)
    )
    if not schedules:
        return
    rows = [
        {"id": uuid.uuid4(), "deployment_id": deployment_id, "position": position, **asdict(s)}
        for position, s in enumerate(schedules)
    ]
    await conn.execute(sa.insert(deployment_schedule), rows)


def _select() -> sa.Select[tuple[object, ...]]:
    return sa.select(deployment, flow.c.name.label("flow_name")).join(
        flow, flow.c.id == deployment.c.flow_id
    )


async def _with_schedules(conn: AsyncConnection, rows: Sequence[Any]) -> list[DeploymentRecord]:
    ids = [row.id for row in rows]
    by_deployment: dict[uuid.UUID, list[ScheduleRecord]] = {i: [] for i in ids}
    if ids:
        query = (
            sa.select(deployment_schedule)
            .where(deployment_schedule.c.deployment_id.in_(ids))
            .order_by(deployment_schedule.c.deployment_id, deployment_schedule.c.position)
        )
        for row in await conn.execute(query):
            by_deployment[row.deployment_id].append(ScheduleRecord.from_row(row))
    return [DeploymentRecord.from_parts(row, by_deployment[row.id]) for row in rows]


async def get(
    conn: AsyncConnection, deployment_id: uuid.UUID, *, hold: bool = False
) -> DeploymentRecord | None:
    """The deployment; with ``hold``, its row and its flow's stay until the transaction ends.

    Holding (``FOR KEY SHARE`` on PostgreSQL; SQLite has one writer) is for a write that
    inserts rows referring to both, such as a new run: a concurrent delete of the deployment
    or its flow then waits for it instead of making the insert fail its foreign keys. The
    flow's row is held first, in the order a flow's delete takes them (the flow, then by
    cascade its deployments), so that the two never wait on each other.
    """
    query = _select().where(deployment.c.id == deployment_id)
    if hold:
        flow_of = sa.select(deployment.c.flow_id).where(deployment.c.id == deployment_id)
        await conn.execute(
            sa.select(flow.c.id)
            .where(flow.c.id == flow_of.scalar_subquery())
            .with_for_update(read=True, key_share=True)
        )
        query = query.with_for_update(read=True, key_share=True, of=deployment)
    row = (await conn.execute(query)).first()
    return (await _with_schedules(conn, [row]))[0] if row else None


async def get_by_name(conn: AsyncConnection, flow_name: str, name: str) -> DeploymentRecord | None:
    query = _select().where(flow.c.name == flow_name, deployment.c.name == name)
    row = (await conn.execute(query)).first()
    return (await _with_schedules(conn, [row]))[0] if row else None


async def list_page(
    conn: AsyncConnection,
    *,
    flow_name: str,
    work_pool_name: str,
    after: tuple[str, str] | None,
    limit: int,
) -> list[DeploymentRecord]:
    """Deployments by (flow name, name), after the given key, filtered by the non-empty values."""
    query = _select().order_by(flow.c.name, deployment.c.name).limit(limit)
    if flow_name:
        query = query.where(flow.c.name == flow_name)
    if work_pool_name:
        query = query.where(deployment.c.work_pool_name == work_pool_name)
    if after is not None:
        after_flow, after_name = after
        query = query.where(
            sa.or_(
                flow.c.name > after_flow,
                sa.and_(flow.c.name == after_flow, deployment.c.name > after_name),
            )
        )
    rows = (await conn.execute(query)).all()
    return await _with_schedules(conn, rows)


async def delete(conn: AsyncConnection, deployment_id: uuid.UUID) -> bool:
    """Deletes the deployment; its schedules go with it (foreign key cascade)."""
    result = await conn.execute(sa.delete(deployment).where(deployment.c.id == deployment_id))
    return result.rowcount > 0
