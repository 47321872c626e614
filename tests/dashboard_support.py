"""Runs, task runs and logs made through the API for the dashboard's tests."""

from __future__ import annotations

import uuid
from uuid import UUID

from runplane import FlowRun, LogRecord, RunplaneClient, State, StateType
from runplane._client.models import TaskRunSpec


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def started_run(
    client: RunplaneClient, flow_name: str, *, work_pool_name: str | None = None, **fields: object
) -> FlowRun:
    """A flow run of ``flow_name`` in RUNNING."""
    flow = await client.create_flow(flow_name)
    run = await client.create_flow_run(flow.id, work_pool_name=work_pool_name, **fields)  # type: ignore[arg-type]
    await client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
    return await client.get_flow_run(run.id)


async def task_run(client: RunplaneClient, run_id: UUID, key: str, end: StateType) -> UUID:
    """A task run of the flow run that ran and ended in ``end``."""
    created = await client.create_task_run(TaskRunSpec(flow_run_id=run_id, task_key=key, name=key))
    await client.set_task_run_state(created.id, State(type=StateType.RUNNING))
    await client.set_task_run_state(created.id, State(type=end, message=f"{key} ended"))
    return created.id


async def log(client: RunplaneClient, run_id: UUID, message: str, level: int = 20) -> None:
    await client.write_logs([LogRecord(flow_run_id=run_id, level=level, message=message)])


async def completed_run(client: RunplaneClient, flow_name: str) -> FlowRun:
    """A flow run with two task runs, a log line, and COMPLETED."""
    run = await started_run(client, flow_name)
    await task_run(client, run.id, "extract", StateType.COMPLETED)
    await task_run(client, run.id, "load", StateType.FAILED)
    await log(client, run.id, "loaded 3 rows")
    await client.set_flow_run_state(run.id, State(type=StateType.COMPLETED))
    return await client.get_flow_run(run.id)
