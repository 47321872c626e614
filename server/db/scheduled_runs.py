"""Flow runs that deployments create, and runs given back to SCHEDULED.

Rows are written in the same format as every other flow run: the current state is
denormalised onto the run row and every state is also appended to ``flow_run_state``.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.ids import time_ordered_uuid
from runplane.server.db.tables import flow_run, flow_run_state
from runplane.server.db.upsert import insert_ignoring_conflict
from runplane.server.orchestration.states import StateType

SCHEDULED_NAME = "Scheduled"


@dataclass(frozen=True, slots=True)
class NewScheduledRun:
    """A run to create in SCHEDULED; ``details`` is the state's StateDetails in JSON form."""

    id: uuid.UUID
    flow_id: uuid.UUID
    name: str
    deployment_id: uuid.UUID
    parameters: dict[str, Any]
    tags: list[str]
    idempotency_key: str | None
    job_variables: dict[str, Any]
    work_pool_name: str
    work_queue_name: str
    flow_version: str | None
    retries: int
    retry_delays: list[float]
    scheduled_time: datetime
    runtime: str


def _state_row(
    state_id: uuid.UUID, timestamp: datetime, message: str, details: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": state_id,
        "type": StateType.SCHEDULED,
        "name": SCHEDULED_NAME,
        "timestamp": timestamp,
        "message": message,
        "result": None,
        "details": details,
    }


def _current_state(state: dict[str, Any]) -> dict[str, Any]:
    """The state's columns as denormalised onto the run row."""
    return {f"state_{key}": value for key, value in state.items()}


async def insert(
    conn: AsyncConnection, run: NewScheduledRun, details: dict[str, Any], now: datetime
) -> bool:
    """Creates the run in SCHEDULED; False when its flow already has a run with that
    idempotency key."""
    state = _state_row(time_ordered_uuid(), now, "", details)
    values = {
        **{k: v for k, v in asdict(run).items() if k != "scheduled_time"},
        **_current_state(state),
        "next_scheduled_start_time": run.scheduled_time,
        "expected_start_time": run.scheduled_time,
        "create_time": now,
        "update_time": now,
    }
    if not await insert_ignoring_conflict(conn, flow_run, values, ["flow_id", "idempotency_key"]):
        return False
    await conn.execute(sa.insert(flow_run_state).values(**state, flow_run_id=run.id))
    return True


async def reschedule(
    conn: AsyncConnection,
    run_id: uuid.UUID,
    *,
    previous_state_time: datetime | None,
    message: str,
    details: dict[str, Any],
    scheduled_time: datetime,
    now: datetime,
) -> None:
    """Puts a run back to SCHEDULED without a lease; the attempt counter is left as it is."""
    # State timestamps are strictly increasing per run, even when the clock is not.
    if previous_state_time is not None and now <= previous_state_time:
        now = previous_state_time + timedelta(microseconds=1)
    state = _state_row(time_ordered_uuid(), now, message, details)
    await conn.execute(
        sa.update(flow_run)
        .where(flow_run.c.id == run_id)
        .values(
            **_current_state(state),
            next_scheduled_start_time=scheduled_time,
            lease_id=None,
            lease_expire_time=None,
            update_time=now,
        )
    )
    await conn.execute(sa.insert(flow_run_state).values(**state, flow_run_id=run_id))


async def delete_scheduled(conn: AsyncConnection, deployment_id: uuid.UUID) -> int:
    """Deletes the deployment's runs that are still SCHEDULED; how many there were."""
    result = await conn.execute(
        sa.delete(flow_run).where(
            flow_run.c.deployment_id == deployment_id, flow_run.c.state_type == StateType.SCHEDULED
        )
    )
    return result.rowcount
