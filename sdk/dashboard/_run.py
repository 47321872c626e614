"""A flow run's page: header, timeline, state history, logs, artifacts; its live logs and
state; and the cancel, retry and resume actions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from runplane._client.client import RunplaneClient
from runplane._client.models import (
    TERMINAL_STATE_TYPES,
    Deployment,
    FlowRun,
    FlowRunFilter,
    LogFilter,
    LogRecord,
    OrchestrationStatus,
    State,
    StateType,
    TaskRun,
    TaskRunFilter,
)
from runplane.dashboard._artifacts import render_artifact
from runplane.dashboard._format import run_duration, time_text
from runplane.dashboard._runs import changed_after, is_news
from runplane.dashboard._timeline import build_timeline
from runplane.dashboard._web import dashboard, path_id, render, sse_response

LOG_PAGE = 200
TASK_RUNS_SHOWN = 1000
RETRY_HISTORIES = 50
"""Task runs that ran more than once whose state history is read to mark each retry."""
SUBFLOW_LINKS = 50
LEVELS = {"": 0, "DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def min_level(request: Request) -> tuple[str, int]:
    name = request.query_params.get("level", "").upper()
    return (name, LEVELS[name]) if name in LEVELS else ("", 0)


async def _task_runs(client: RunplaneClient, run_id: UUID) -> list[TaskRun]:
    found: list[TaskRun] = []
    token: str | None = None
    while len(found) < TASK_RUNS_SHOWN:
        page = await client.list_task_runs(
            TaskRunFilter(flow_run_ids=(run_id,)), page_size=200, page_token=token
        )
        found.extend(page)
        token = page.next_page_token
        if not token:
            break
    return found


async def _states(client: RunplaneClient, run_id: UUID) -> list[State]:
    return (await client.list_flow_run_states(run_id, page_size=200)).items


async def _retry_histories(
    client: RunplaneClient, task_runs: list[TaskRun]
) -> dict[UUID, list[State]]:
    retried = [t for t in task_runs if t.run_count > 1][:RETRY_HISTORIES]
    pages = await asyncio.gather(*(client.list_task_run_states(t.id) for t in retried))
    return {task_run.id: page.items for task_run, page in zip(retried, pages, strict=True)}


async def _subflow_runs(client: RunplaneClient, task_runs: list[TaskRun]) -> dict[UUID, UUID]:
    """The flow run of each subflow call among the task runs (those with a ``subflow:`` key
    stand for one), by task run id; the first ``SUBFLOW_LINKS`` are looked up."""
    calls = [t for t in task_runs if t.task_key.startswith("subflow:")][:SUBFLOW_LINKS]
    pages = await asyncio.gather(
        *(
            client.list_flow_runs(FlowRunFilter(parent_task_run_id=call.id), page_size=1)
            for call in calls
        )
    )
    return {call.id: page.items[0].id for call, page in zip(calls, pages, strict=True) if page}


async def _deployment(client: RunplaneClient, run: FlowRun) -> Deployment | None:
    return None if run.deployment_id is None else await client.get_deployment(run.deployment_id)


async def _parent_run_id(client: RunplaneClient, run: FlowRun) -> UUID | None:
    if run.parent_task_run_id is None:
        return None
    return (await client.get_task_run(run.parent_task_run_id)).flow_run_id


async def run_page(request: Request) -> Response:
    run_id = path_id(request)
    client = dashboard(request).client
    read_at = datetime.now(UTC)
    run = await client.get_flow_run(run_id)
    level_name, level = min_level(request)
    log_filter = LogFilter(flow_run_id=run_id, min_level=level)
    logs_token = request.query_params.get("logs") or None
    task_runs, states, logs, artifacts, deployment, parent = await asyncio.gather(
        _task_runs(client, run_id),
        _states(client, run_id),
        client.list_logs(log_filter, page_size=LOG_PAGE, page_token=logs_token),
        client.list_artifacts(flow_run_id=run_id),
        _deployment(client, run),
        _parent_run_id(client, run),
    )
    histories, subflows = await asyncio.gather(
        _retry_histories(client, task_runs), _subflow_runs(client, task_runs)
    )
    now = datetime.now(UTC)
    finished = run.state is not None and run.state.type in TERMINAL_STATE_TYPES
    after = urlencode({"after": read_at.isoformat()})
    context: dict[str, Any] = {
        "run": run,
        "duration": run_duration(run, now),
        "timeline": build_timeline(
            task_runs,
            now,
            history=histories,
            subflows=subflows,
            window=(run.start_time, run.end_time),
        ),
        "task_runs": task_runs,
        "states": states,
        "logs": logs.items,
        "logs_next": logs.next_page_token,
        "level": level_name,
        "levels": [name for name in LEVELS if name],
        "artifacts": [(a, render_artifact(a)) for a in artifacts.items],
        "deployment": deployment,
        "parent_run_id": parent,
        "finished": finished,
        "paused": run.state is not None and run.state.type is StateType.PAUSED,
        "retriable": finished and run.work_pool_name is not None,
        "message": request.query_params.get("message", ""),
        "state_events_url": f"/runs/{run_id}/state/events?{after}",
    }
    return await render(request, "run.html", context)


def log_line(record: LogRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "time": time_text(record.timestamp),
        "level": logging.getLevelName(record.level),
        "logger": record.logger_name,
        "message": record.message,
    }


async def run_logs_events(request: Request) -> Response:
    """The run's log records at or above the level, stored ones first, then each new one."""
    run_id = path_id(request)
    _, level = min_level(request)
    client = dashboard(request).client

    async def events() -> AsyncIterator[tuple[str, Any]]:
        records = client.follow_logs(LogFilter(flow_run_id=run_id, min_level=level))
        try:
            async for record in records:
                yield "log", log_line(record)
        finally:
            await records.aclose()

    return sse_response(events())


async def run_state_events(request: Request) -> Response:
    """The run's state as it changes."""
    run_id = path_id(request)
    after = changed_after(request)
    client = dashboard(request).client

    async def events() -> AsyncIterator[tuple[str, Any]]:
        run_filter = FlowRunFilter(flow_run_ids=(run_id,))
        changes = client.watch_flow_runs(run_filter, include_current=after is not None)
        try:
            async for change in changes:
                if not is_news(change, after):
                    continue
                state = change.state
                final = state.type in TERMINAL_STATE_TYPES
                yield "state", {"name": state.name, "type": state.type.value, "final": final}
        finally:
            await changes.aclose()

    return sse_response(events())


def _back(run_id: UUID, message: str) -> RedirectResponse:
    return RedirectResponse(f"/runs/{run_id}?message={quote(message)}", status_code=303)


async def cancel_run(request: Request) -> Response:
    run_id = path_id(request)
    state = State(type=StateType.CANCELLING, message="cancelled from the dashboard")
    result = await dashboard(request).client.set_flow_run_state(run_id, state)
    if result.state is None or result.state.type not in (
        StateType.CANCELLING,
        StateType.CANCELLED,
    ):
        return _back(run_id, f"not cancelled: {result.reason or 'the run cannot be cancelled'}")
    return _back(run_id, f"cancel requested: the run is {result.state.name}")


async def retry_run(request: Request) -> Response:
    run_id = path_id(request)
    client = dashboard(request).client
    run = await client.get_flow_run(run_id)
    if run.work_pool_name is None:
        return _back(run_id, "not retried: only a run of a work pool has a runner to run it again")
    if run.state is None or run.state.type not in TERMINAL_STATE_TYPES:
        return _back(run_id, "not retried: the run has not finished")
    retried = State(
        type=StateType.SCHEDULED, name="AwaitingRetry", message="retried from the dashboard"
    )
    result = await client.set_flow_run_state(run_id, retried)
    if result.status is not OrchestrationStatus.ACCEPT:
        return _back(run_id, f"not retried: {result.reason or 'the server refused it'}")
    return _back(run_id, "retry scheduled")


async def resume_run(request: Request) -> Response:
    run_id = path_id(request)
    client = dashboard(request).client
    run = await client.get_flow_run(run_id)
    if run.state is None or run.state.type is not StateType.PAUSED:
        return _back(run_id, "not resumed: the run is not paused")
    resumed = State(type=StateType.RUNNING, message="resumed from the dashboard")
    result = await client.set_flow_run_state(run_id, resumed)
    if result.state is None or result.state.type not in (StateType.RUNNING, StateType.SCHEDULED):
        return _back(run_id, f"not resumed: {result.reason or 'it is not paused'}")
    return _back(run_id, f"resumed: the run is {result.state.name}")
