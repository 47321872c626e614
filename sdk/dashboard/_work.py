"""Work pools and their queues, concurrency limits and variables."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from runplane._client.client import RunplaneClient
from runplane._client.models import FlowRunFilter, StateType, WorkPool, WorkQueue
from runplane.dashboard._web import dashboard, render

COUNTED_UP_TO = 200
"""A pool's waiting and running runs are counted up to one page: beyond, the page says
"200+" (the API has no count, which would scan at scale)."""


async def _count(client: RunplaneClient, pool: str, *states: StateType) -> str:
    """How many of the pool's runs are in these states, counted up to one page."""
    run_filter = FlowRunFilter(work_pool_name=pool, state_types=states)
    page = await client.list_flow_runs(run_filter, page_size=COUNTED_UP_TO)
    return f"{len(page.items)}+" if page.next_page_token else str(len(page.items))


async def _pool_facts(client: RunplaneClient, pool: WorkPool) -> tuple[list[WorkQueue], str, str]:
    return await asyncio.gather(
        client.list_work_queues(pool.name),
        _count(client, pool.name, StateType.SCHEDULED, StateType.PENDING),
        _count(client, pool.name, StateType.RUNNING),
    )


async def work_pools_page(request: Request) -> Response:
    client = dashboard(request).client
    pools = (await client.list_work_pools(page_size=200)).items
    facts = await asyncio.gather(*(_pool_facts(client, pool) for pool in pools))
    rows = [(pool, *fact) for pool, fact in zip(pools, facts, strict=True)]
    return await render(request, "work_pools.html", {"rows": rows})


async def concurrency_page(request: Request) -> Response:
    limits = await dashboard(request).client.all_concurrency_limits()
    return await render(request, "concurrency.html", {"limits": limits})


async def variables_page(request: Request) -> Response:
    client = dashboard(request).client
    token = request.query_params.get("page") or None
    page = await client.list_variables(page_size=200, page_token=token)
    rows: list[tuple[Any, str]] = [
        (variable, json.dumps(variable.value, default=str)) for variable in page.items
    ]
    return await render(
        request, "variables.html", {"rows": rows, "next_token": page.next_page_token}
    )
