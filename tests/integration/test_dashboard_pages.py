"""The dashboard's pages and actions over HTTP, against a real server through its API.

The dashboard reads and acts only through the API, so one database (SQLite) is enough here:
the API's behaviour on both databases is tested elsewhere.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from dashboard_support import completed_run, log, started_run, task_run, unique
from pydantic import SecretStr

from runplane import (
    ArtifactType,
    Deployment,
    IntervalSchedule,
    RunplaneClient,
    Settings,
    State,
    StateType,
)
from runplane._client.models import DeploymentSchedule
from runplane.dashboard import serving
from runplane.server import RunplaneServer, ServerSettings, create_server

pytestmark = pytest.mark.anyio


@dataclass
class Site:
    client: RunplaneClient
    http: httpx.AsyncClient


@pytest.fixture
async def server(sqlite_database_url: str, tmp_path: Path) -> AsyncIterator[RunplaneServer]:
    settings = ServerSettings(
        home=tmp_path,
        database_url=sqlite_database_url,
        host="127.0.0.1",
        port=0,
        loops_enabled=False,
    )
    async with await create_server(settings) as running:
        yield running


@pytest.fixture
async def site(server: RunplaneServer) -> AsyncIterator[Site]:
    settings = Settings(api_url=server.address)
    async with (
        RunplaneClient(settings) as client,
        serving(settings, port=0) as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        yield Site(client, http)


async def test_the_runs_page_lists_a_completed_run_with_its_chart(site: Site) -> None:
    run = await completed_run(site.client, unique("etl"))
    page = await site.http.get("/runs")
    assert page.status_code == 200
    assert f'id="run-{run.id}"' in page.text
    assert "state-completed" in page.text
    assert '<svg class="chart"' in page.text
    assert "<rect" in page.text
    home = await site.http.get("/")
    assert home.status_code == 307
    assert home.headers["location"] == "/runs"


async def test_the_runs_page_filters_by_state_flow_and_tag(site: Site) -> None:
    flow = unique("filtered")
    done = await completed_run(site.client, flow)
    running = await started_run(site.client, flow, tags=("nightly",))
    only_running = await site.http.get("/runs", params={"state": "RUNNING", "flow": flow})
    assert f"run-{running.id}" in only_running.text
    assert f"run-{done.id}" not in only_running.text
    tagged = await site.http.get("/runs", params={"tag": "nightly", "flow": flow})
    assert f"run-{running.id}" in tagged.text
    assert f"run-{done.id}" not in tagged.text
    nothing = await site.http.get("/runs", params={"flow": unique("no-such-flow")})
    assert nothing.status_code == 200
    assert "No flow runs match" in nothing.text
    recent = await site.http.get("/runs", params={"since": "1h", "flow": flow})
    assert f"run-{done.id}" in recent.text


async def test_bad_filters_are_a_400_naming_them(site: Site) -> None:
    assert (await site.http.get("/runs", params={"state": "BOGUS"})).status_code == 400
    answer = await site.http.get("/runs", params={"deployment": "nope"})
    assert answer.status_code == 400
    assert "deployment" in answer.text
    assert (await site.http.get("/runs", params={"since": "2y"})).status_code == 400


async def test_the_runs_page_pages_with_a_token(site: Site) -> None:
    flow = unique("many")
    for _ in range(52):
        await started_run(site.client, flow)
    first = await site.http.get("/runs", params={"flow": flow})
    assert first.text.count('<tr id="run-') == 50
    link = first.text.split('id="next-page" href="', 1)[1].split('"', 1)[0]
    second = await site.http.get(link.replace("&amp;", "&"))
    assert second.text.count('<tr id="run-') == 2


async def test_a_run_page_shows_its_timeline_logs_states_and_artifacts(site: Site) -> None:
    run = await completed_run(site.client, unique("etl"))
    await site.client.create_artifact(
        ArtifactType.MARKDOWN,
        "# Report\n<script>alert(1)</script>",
        key="report",
        flow_run_id=run.id,
    )
    await site.client.create_artifact(
        ArtifactType.TABLE, json.dumps([{"city": "Oslo", "rows": 3}]), flow_run_id=run.id
    )
    page = await site.http.get(f"/runs/{run.id}")
    assert page.status_code == 200
    timeline = page.text.split('id="timeline"', 1)[1].split("</svg>", 1)[0]
    assert "extract" in timeline
    assert "load" in timeline
    assert "state-completed" in timeline
    assert "state-failed" in timeline
    assert "loaded 3 rows" in page.text
    history = page.text.split('id="state-history"', 1)[1]
    assert history.index("Running") < history.index("Completed")
    assert "<h1>Report</h1>" in page.text
    assert "<script>alert" not in page.text
    assert "<td>Oslo</td>" in page.text


async def test_a_run_page_shows_progress_images_and_row_lists(site: Site) -> None:
    run = await started_run(site.client, unique("media"))
    progress = await site.client.create_artifact(
        ArtifactType.PROGRESS, "20", key="load", flow_run_id=run.id
    )
    await site.client.update_artifact(progress.id, "62.5")
    await site.client.create_artifact(
        ArtifactType.IMAGE,
        'https://images.example/chart.png?a=1&b="x"',
        description="the <chart>",
        flow_run_id=run.id,
    )
    await site.client.create_artifact(
        ArtifactType.TABLE, json.dumps([["Oslo", 3], ["Lima", 19]]), flow_run_id=run.id
    )
    page = (await site.http.get(f"/runs/{run.id}")).text
    assert '<progress max="100" value="62.5"' in page
    assert '<span class="progress-value">62.5%</span>' in page
    assert 'src="https://images.example/chart.png?a=1&amp;b=&#34;x&#34;"' in page
    assert 'alt="the &lt;chart&gt;"' in page
    assert "<td>Lima</td><td>19</td>" in page


async def test_a_run_page_filters_logs_by_level(site: Site) -> None:
    run = await started_run(site.client, unique("levels"))
    await log(site.client, run.id, "just chatter", level=20)
    await log(site.client, run.id, "it broke", level=40)
    page = await site.http.get(f"/runs/{run.id}", params={"level": "ERROR"})
    assert "it broke" in page.text
    assert "just chatter" not in page.text


async def test_an_unknown_run_is_a_404(site: Site) -> None:
    assert (await site.http.get("/runs/4c1f7a52-0000-4000-8000-000000000000")).status_code == 404
    assert (await site.http.get("/runs/not-an-id")).status_code == 404


async def test_the_log_stream_sends_a_line_written_after_it_opened(site: Site) -> None:
    run = await started_run(site.client, unique("live"))
    async with site.http.stream("GET", f"/runs/{run.id}/logs/events") as stream:
        lines = stream.aiter_lines()
        assert await anext(lines) == ": open"
        await log(site.client, run.id, "written while watching")
        async for line in lines:
            if line.startswith("data:"):
                assert json.loads(line[5:])["message"] == "written while watching"
                break


def _events_url(page: httpx.Response, element: str) -> str:
    """The live stream's URL that the page gives ``element``."""
    tag = page.text.split(f'id="{element}"', 1)[1].split(">", 1)[0]
    return html.unescape(tag.split('data-events="', 1)[1].split('"', 1)[0])


async def test_the_runs_stream_sends_a_change_made_after_the_page_was_read(site: Site) -> None:
    flow = unique("watched")
    run = await started_run(site.client, flow)
    page = await site.http.get("/runs", params={"flow": flow})
    # Changed before the stream opens: the stream still sends it, the page being older.
    await site.client.set_flow_run_state(run.id, State(type=StateType.COMPLETED))
    later = await started_run(site.client, flow)
    seen: dict[str, str] = {}
    async with site.http.stream("GET", _events_url(page, "runs")) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                change = json.loads(line[5:])
                seen[change["id"]] = change["html"]
            if str(run.id) in seen and str(later.id) in seen:
                break
    assert "state-completed" in seen[str(run.id)]
    assert "state-running" in seen[str(later.id)]


async def test_the_run_state_stream_sends_only_changes_after_the_page(site: Site) -> None:
    run = await started_run(site.client, unique("ending"))
    page = await site.http.get(f"/runs/{run.id}")
    await site.client.set_flow_run_state(run.id, State(type=StateType.COMPLETED))
    async with site.http.stream("GET", _events_url(page, "run-state")) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                assert json.loads(line[5:]) == {
                    "name": "Completed",
                    "type": "COMPLETED",
                    "final": True,
                }
                break


async def test_cancel_moves_a_running_run_to_cancelling(site: Site) -> None:
    run = await started_run(site.client, unique("cancelled"))
    answer = await site.http.post(f"/runs/{run.id}/cancel")
    assert answer.status_code == 303
    state = (await site.client.get_flow_run(run.id)).state
    assert state is not None
    assert state.type is StateType.CANCELLING
    page = await site.http.get(answer.headers["location"])
    assert "cancel requested" in page.text


async def test_a_post_from_another_site_is_refused(site: Site) -> None:
    run = await started_run(site.client, unique("csrf"))
    answer = await site.http.post(
        f"/runs/{run.id}/cancel", headers={"origin": "https://evil.example"}
    )
    assert answer.status_code == 403
    state = (await site.client.get_flow_run(run.id)).state
    assert state is not None
    assert state.type is StateType.RUNNING


async def test_retry_schedules_a_finished_run_of_a_pool_again(site: Site) -> None:
    pool = unique("pool")
    await site.client.create_work_pool(pool)
    run = await started_run(site.client, unique("retried"), work_pool_name=pool)
    await site.client.set_flow_run_state(run.id, State(type=StateType.FAILED))
    page = await site.http.get(f"/runs/{run.id}")
    assert 'id="retry"' in page.text
    answer = await site.http.post(f"/runs/{run.id}/retry")
    assert answer.status_code == 303
    state = (await site.client.get_flow_run(run.id)).state
    assert state is not None
    assert state.name == "AwaitingRetry"


async def test_resume_continues_a_paused_run(site: Site) -> None:
    run = await started_run(site.client, unique("paused"))
    await site.client.set_flow_run_state(run.id, State(type=StateType.PAUSED))
    assert 'id="resume"' in (await site.http.get(f"/runs/{run.id}")).text
    await site.http.post(f"/runs/{run.id}/resume")
    state = (await site.client.get_flow_run(run.id)).state
    assert state is not None
    assert state.type is StateType.RUNNING


async def _deployment(client: RunplaneClient) -> Deployment:
    flow = await client.create_flow(unique("report"))
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "default": 3}, "label": {"type": "string"}},
        "required": ["label"],
    }
    return await client.create_deployment(
        Deployment(
            name="daily",
            entrypoint="flows.py:report",
            flow_id=flow.id,
            parameter_schema=schema,
            enforce_parameter_schema=True,
            schedules=(DeploymentSchedule(schedule=IntervalSchedule(interval=300)),),
        )
    )


async def test_deployments_show_schedules_in_words_and_pause(site: Site) -> None:
    deployment = await _deployment(site.client)
    listing = await site.http.get("/deployments")
    assert f"/deployments/{deployment.id}" in listing.text
    assert "every 5 minutes" in listing.text
    page = await site.http.get(f"/deployments/{deployment.id}")
    assert 'id="pause-deployment"' in page.text
    assert 'name="param.n" value="3"' in page.text
    await site.http.post(f"/deployments/{deployment.id}/pause")
    assert (await site.client.get_deployment(deployment.id)).paused  # type: ignore[arg-type]
    await site.http.post(f"/deployments/{deployment.id}/resume")
    assert not (await site.client.get_deployment(deployment.id)).paused  # type: ignore[arg-type]


async def test_run_now_creates_a_run_with_the_form_parameters(site: Site) -> None:
    deployment = await _deployment(site.client)
    url = f"/deployments/{deployment.id}/run"
    answer = await site.http.post(url, data={"param.n": "7", "param.label": "weekly"})
    assert answer.status_code == 303
    run_id = answer.headers["location"].split("/runs/", 1)[1].split("?", 1)[0]
    run = await site.client.get_flow_run(__import__("uuid").UUID(run_id))
    assert run.parameters == {"n": 7, "label": "weekly"}
    assert run.deployment_id == deployment.id
    missing = await site.http.post(url, data={"param.n": "7"})
    assert missing.status_code == 400
    assert "label" in missing.text
    wrong = await site.http.post(url, data={"param.n": "seven", "param.label": "x"})
    assert wrong.status_code == 400
    assert "&#39;n&#39;" in wrong.text


async def test_work_pools_limits_and_variables_pages(site: Site) -> None:
    pool = unique("pool")
    await site.client.create_work_pool(pool, concurrency_limit=4)
    await site.client.create_work_queue(pool, "urgent", priority=1)
    await started_run(site.client, unique("waiting"), work_pool_name=pool)
    limit = unique("tag:db")
    await site.client.create_concurrency_limit(limit, 2)
    variable = unique("region")
    await site.client.set_variable(variable, {"name": "eu"})
    pools = await site.http.get("/work-pools")
    assert pool in pools.text
    assert "urgent" in pools.text
    assert (await site.http.get("/concurrency-limits")).text.count(limit) == 1
    variables = await site.http.get("/variables")
    assert variable in variables.text
    assert "&#34;eu&#34;" in variables.text


@pytest.fixture
async def guarded(sqlite_database_url: str, tmp_path: Path) -> AsyncIterator[RunplaneServer]:
    settings = ServerSettings(
        home=tmp_path,
        database_url=sqlite_database_url,
        host="127.0.0.1",
        port=0,
        loops_enabled=False,
        api_keys=[SecretStr("read:reader-k3y"), SecretStr("admin:admin-k3y")],
    )
    async with await create_server(settings) as running:
        yield running


async def test_a_read_only_key_sees_no_buttons_and_cannot_act(guarded: RunplaneServer) -> None:
    admin = Settings(api_url=guarded.address, api_key=SecretStr("admin-k3y"))
    reader = Settings(api_url=guarded.address, api_key=SecretStr("reader-k3y"))
    async with RunplaneClient(admin) as client:
        run = await started_run(client, unique("guarded"))
        deployment = await _deployment(client)
        async with (
            serving(reader, port=0) as running,
            httpx.AsyncClient(base_url=running.url, timeout=10) as http,
        ):
            page = await http.get(f"/runs/{run.id}")
            assert page.status_code == 200
            assert 'id="read-only"' in page.text
            assert 'id="cancel"' not in page.text
            listing = await http.get(f"/deployments/{deployment.id}")
            assert 'id="run-now"' not in listing.text
            assert "pause-deployment" not in listing.text
            assert (await http.post(f"/runs/{run.id}/cancel")).status_code == 403
        state = (await client.get_flow_run(run.id)).state
        assert state is not None
        assert state.type is StateType.RUNNING
        async with (
            serving(admin, port=0) as running,
            httpx.AsyncClient(base_url=running.url, timeout=10) as http,
        ):
            page = await http.get(f"/runs/{run.id}")
            assert 'id="cancel"' in page.text
            assert 'id="read-only"' not in page.text


async def test_a_subflow_in_the_timeline_links_to_its_run(site: Site) -> None:
    parent = await started_run(site.client, unique("parent"))
    call = await task_run(site.client, parent.id, "subflow:child", StateType.COMPLETED)
    child = await started_run(site.client, unique("child"), parent_task_run_id=call)
    page = await site.http.get(f"/runs/{parent.id}")
    timeline = page.text.split('id="timeline"', 1)[1].split("</svg>", 1)[0]
    assert f'href="/runs/{child.id}"' in timeline
    child_page = await site.http.get(f"/runs/{child.id}")
    assert f'href="/runs/{parent.id}"' in child_page.text
