"""The runs page: filters, a chart of the newest runs by state, a page of runs, and its live
updates from WatchFlowRuns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from runplane._client.errors import NotFound
from runplane._client.models import FlowRun, FlowRunChange, FlowRunFilter, StateType
from runplane.dashboard._charts import runs_chart
from runplane.dashboard._format import STATE_ORDER, run_duration
from runplane.dashboard._web import dashboard, render, sse_response, templates

PAGE_SIZE = 50
CHART_RUNS = 200
"""The chart shows the newest runs matching the filter, one page at the API's largest size:
counting every run would cost the server a scan at scale."""
SINCE = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


@dataclass(frozen=True)
class RunQuery:
    """The runs page's filters, as the URL gives them."""

    states: tuple[StateType, ...] = ()
    flow: str = ""
    deployment: UUID | None = None
    tags: tuple[str, ...] = ()
    since: str = ""
    pool: str = ""

    @classmethod
    def from_request(cls, request: Request) -> RunQuery:
        params = request.query_params
        try:
            states = tuple(StateType(value.upper()) for value in params.getlist("state") if value)
        except ValueError:
            raise HTTPException(400, f"unknown state in {params.getlist('state')}") from None
        deployment_text = params.get("deployment", "").strip()
        try:
            deployment = UUID(deployment_text) if deployment_text else None
        except ValueError:
            raise HTTPException(400, "deployment must be a deployment id") from None
        since = params.get("since", "")
        if since and since not in SINCE:
            raise HTTPException(400, f"since must be one of {', '.join(SINCE)}")
        tags = tuple(tag for tag in params.getlist("tag") if tag.strip())
        flow, pool = params.get("flow", "").strip(), params.get("pool", "").strip()
        return cls(states, flow, deployment, tags, since, pool)

    def url_params(self) -> list[tuple[str, str]]:
        pairs = [("state", state.value) for state in self.states]
        pairs += [("flow", self.flow)] if self.flow else []
        pairs += [("deployment", str(self.deployment))] if self.deployment else []
        pairs += [("tag", tag) for tag in self.tags]
        pairs += [("since", self.since)] if self.since else []
        pairs += [("pool", self.pool)] if self.pool else []
        return pairs

    def query_string(self, **extra: str) -> str:
        return urlencode(self.url_params() + list(extra.items()))

    async def flow_run_filter(self, request: Request) -> FlowRunFilter | None:
        """The API filter; None when it can match nothing (a flow name no flow has)."""
        flow_ids: tuple[UUID, ...] = ()
        if self.flow:
            try:
                flow = await dashboard(request).client.get_flow_by_name(self.flow)
            except NotFound:
                return None
            flow_ids = (flow.id,)
        after = datetime.now(UTC) - SINCE[self.since] if self.since else None
        return FlowRunFilter(
            flow_ids=flow_ids,
            deployment_ids=(self.deployment,) if self.deployment else (),
            state_types=self.states,
            tags=self.tags,
            expected_start_time_after=after,
            work_pool_name=self.pool or None,
        )


def changed_after(request: Request) -> datetime | None:
    """The ``after`` of an events URL: the time its page was read."""
    text = request.query_params.get("after", "")
    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        raise HTTPException(400, "after must be an ISO 8601 time") from None
    if moment is not None and moment.tzinfo is None:
        raise HTTPException(400, "after must have a time zone")
    return moment


def is_news(change: FlowRunChange, after: datetime | None) -> bool:
    """Whether a change is newer than the page: the watch starts with each run's current
    state, so that a change between the page's read and the watch is not missed."""
    moment = change.state.timestamp
    return after is None or moment is None or moment > after


async def runs_page(request: Request) -> Response:
    query = RunQuery.from_request(request)
    token = request.query_params.get("page") or None
    read_at = datetime.now(UTC)
    client = dashboard(request).client
    run_filter = await query.flow_run_filter(request)
    runs: list[FlowRun] = []
    sample: list[FlowRun] = []
    next_token = None
    if run_filter is not None:
        listing = client.list_flow_runs(run_filter, page_size=PAGE_SIZE, page_token=token)
        charting = client.list_flow_runs(run_filter, page_size=CHART_RUNS)
        page, chart_page = await asyncio.gather(listing, charting)
        runs, sample, next_token = page.items, chart_page.items, page.next_page_token
    now = datetime.now(UTC)
    context: dict[str, Any] = {
        "query": query,
        "runs": runs,
        "now": now,
        "run_duration": run_duration,
        "chart": runs_chart(sample),
        "chart_limit": CHART_RUNS,
        "next_url": f"/runs?{query.query_string(page=next_token)}" if next_token else None,
        "first_page": token is None,
        "states": STATE_ORDER,
        "since_choices": list(SINCE),
        "events_url": f"/runs/events?{query.query_string(after=read_at.isoformat())}",
    }
    return await render(request, "runs.html", context)


async def runs_events(request: Request) -> Response:
    """Each state change of the runs the filter matches, as a table row to put in place."""
    query = RunQuery.from_request(request)
    after = changed_after(request)
    run_filter = await query.flow_run_filter(request)
    client = dashboard(request).client
    row = templates.get_template("run_row.html")

    async def events() -> AsyncIterator[tuple[str, Any]]:
        if run_filter is None:
            return
        # The time bound is the page's, not the watch's: a new run is always recent.
        watched = run_filter.model_copy(update={"expected_start_time_after": None})
        changes = client.watch_flow_runs(watched, include_current=after is not None)
        try:
            async for change in changes:
                if not is_news(change, after):
                    continue
                run = change.flow_run.model_copy(update={"state": change.state})
                now = datetime.now(UTC)
                html = row.render(run=run, now=now, run_duration=run_duration)
                yield "run", {"id": str(run.id), "html": html}
        finally:
            await changes.aclose()

    return sse_response(events())
