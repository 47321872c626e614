"""Deployments: their schedules in words, next and last runs; pause, resume and run now."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from runplane._client.client import RunplaneClient
from runplane._client.models import Deployment, FlowRun, FlowRunFilter, StateType
from runplane.dashboard._forms import FormError, parameter_fields, parameters_from_form
from runplane.dashboard._schedules import schedule_words
from runplane.dashboard._web import dashboard, path_id, render

LAST_RUNS = 10
NEXT_RUNS = 5


async def _last_runs(client: RunplaneClient, deployment_id: UUID) -> list[FlowRun]:
    run_filter = FlowRunFilter(deployment_ids=(deployment_id,))
    return (await client.list_flow_runs(run_filter, page_size=LAST_RUNS)).items


async def _next_runs(client: RunplaneClient, deployment_id: UUID) -> list[FlowRun]:
    """The scheduled runs due soonest (the list is newest first, and the scheduler keeps at
    most a hundred ahead, so one page of them holds the soonest)."""
    run_filter = FlowRunFilter(deployment_ids=(deployment_id,), state_types=(StateType.SCHEDULED,))
    scheduled = (await client.list_flow_runs(run_filter, page_size=200)).items
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(scheduled, key=lambda run: run.expected_start_time or far)[:NEXT_RUNS]


async def deployments_page(request: Request) -> Response:
    client = dashboard(request).client
    token = request.query_params.get("page") or None
    page = await client.list_deployments(page_size=50, page_token=token)
    deployments = [d for d in page.items if d.id is not None]
    last = await asyncio.gather(*(_last_runs(client, d.id) for d in deployments if d.id))
    context: dict[str, Any] = {
        "rows": [
            (d, [schedule_words(s) for s in d.schedules], runs)
            for d, runs in zip(deployments, last, strict=True)
        ],
        "next_url": f"/deployments?page={quote(page.next_page_token)}"
        if page.next_page_token
        else None,
    }
    return await render(request, "deployments.html", context)


async def deployment_page(request: Request) -> Response:
    deployment_id = path_id(request)
    client = dashboard(request).client
    deployment, last, upcoming = await asyncio.gather(
        client.get_deployment(deployment_id),
        _last_runs(client, deployment_id),
        _next_runs(client, deployment_id),
    )
    return await _deployment_view(request, deployment, last, upcoming)


async def _deployment_view(
    request: Request,
    deployment: Deployment,
    last: list[FlowRun],
    upcoming: list[FlowRun],
    *,
    error: str = "",
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "deployment": deployment,
        "schedules": [schedule_words(s) for s in deployment.schedules],
        "last_runs": last,
        "next_runs": upcoming,
        "fields": parameter_fields(deployment),
        "error": error,
        "message": request.query_params.get("message", ""),
    }
    return await render(request, "deployment.html", context, status_code=status_code)


async def set_paused(request: Request, paused: bool) -> Response:
    deployment_id = path_id(request)
    client = dashboard(request).client
    deployment = await client.get_deployment(deployment_id)
    await client.update_deployment(deployment.model_copy(update={"paused": paused}), ["paused"])
    message = "paused" if paused else "resumed"
    return RedirectResponse(f"/deployments/{deployment_id}?message={message}", status_code=303)


async def pause_deployment(request: Request) -> Response:
    return await set_paused(request, True)


async def resume_deployment(request: Request) -> Response:
    return await set_paused(request, False)


async def run_deployment(request: Request) -> Response:
    """Run now, with the parameters of the form; a value that does not fit is shown on the
    deployment's page with status 400."""
    deployment_id = path_id(request)
    client = dashboard(request).client
    deployment = await client.get_deployment(deployment_id)
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    try:
        parameters = parameters_from_form(deployment, values)
    except FormError as error:
        last, upcoming = await asyncio.gather(
            _last_runs(client, deployment_id), _next_runs(client, deployment_id)
        )
        return await _deployment_view(
            request, deployment, last, upcoming, error=str(error), status_code=400
        )
    run = await client.run_deployment(deployment_id, parameters=parameters)
    return RedirectResponse(f"/runs/{run.id}?message=created", status_code=303)
