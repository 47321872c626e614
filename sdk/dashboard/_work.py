"""Work pools and their queues, concurrency limits and variables."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from runplane._client import RunplaneClient
from runplane._models import FlowRunFilter, StateType, WorkPool, WorkQueue
from runplane.dashboard._web import dashboard, render

WAITING_SHOWN = 200
"""Runs waiting in a pool are counted up to one page: beyond it the page says "200+"."""


async def _pool_facts(client: RunplaneClient, pool: WorkPool) -> tuple[list[WorkQueue], str]:
    waiting_filter = FlowRunFilter(
        work_pool_name=pool.name, state_types=(StateType.SCHEDULED, StateType.PENDING)
    )
    queues, waiting = await asyncio.gather(
        client.list_work_queues(pool.name),
        client.list_flow_runs(waiting_filter, page_size=WAITING_SHOWN),
    )
    count = len(waiting.items)
    return queues, f"{count}+" if waiting.next_page_token else str(count)


async def work_pools_page(request: Request) -> Response:
    client = dashboard(request).client
    pools = (await client.list_work_pools(page_size=200)).items
    facts = await asyncio.gather(*(_pool_facts(client, pool) for pool in pools))
    rows = [(pool, queues, waiting) for pool, (queues, waiting) in zip(pools, facts, strict=True)]
    return render(request, "work_pools.html", {"rows": rows})


async def concurrency_page(request: Request) -> Response:
    limits = await dashboard(request).client.all_concurrency_limits()
    return render(request, "concurrency.html", {"limits": limits})


async def variables_page(request: Request) -> Response:
    client = dashboard(request).client
    token = request.query_params.get("page") or None
    page = await client.list_variables(page_size=200, page_token=token)
    rows: list[tuple[Any, str]] = [
        (variable, json.dumps(variable.value, default=str)) for variable in page.items
    ]
    return render(request, "variables.html", {"rows": rows, "next_token": page.next_page_token})
