"""The dashboard in a real browser: headless Chromium (Debian's, driven by Playwright) against
a real server and the dashboard that ``runplane server start`` serves beside it.

Without Chromium these tests skip, saying how to install it, except under CI=true, where that
is a failure (.ci/run installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dashboard_support import completed_run, log, started_run, unique
from e2e_support import deploy, runner_process
from playwright.async_api import Browser, Page, Route, async_playwright, expect
from pydantic import SecretStr

from runplane import ArtifactType, RunplaneClient, Settings, StateType
from runplane.server import RunplaneServer, ServerSettings, create_server
from runplane.server.dashboard import dashboard_beside

pytestmark = pytest.mark.anyio

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WAIT_MS = 15_000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        reason = "chromium is not installed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            await launched.close()


def _settings(sqlite_database_url: str, tmp_path: Path, **fields: object) -> ServerSettings:
    return ServerSettings(
        home=tmp_path,
        database_url=sqlite_database_url,
        host="127.0.0.1",
        port=0,
        dashboard_enabled=True,
        dashboard_port=0,
        heartbeat_timeout=3.0,
        heartbeat_reaper_interval=0.5,
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
async def server(sqlite_database_url: str, tmp_path: Path) -> AsyncIterator[RunplaneServer]:
    async with await create_server(_settings(sqlite_database_url, tmp_path)) as running:
        yield running


@pytest.fixture
async def site(server: RunplaneServer) -> AsyncIterator[str]:
    """The dashboard's URL, served as ``runplane server start`` serves it."""
    settings = server.context.settings.model_copy(update={"dashboard_port": 0})
    async with dashboard_beside(settings, server.port) as running:
        assert running is not None
        yield running.url


@pytest.fixture
async def client(server: RunplaneServer) -> AsyncIterator[RunplaneClient]:
    async with RunplaneClient(Settings(api_url=server.address)) as opened:
        yield opened


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    opened = await browser.new_page()
    opened.set_default_timeout(WAIT_MS)
    try:
        yield opened
    finally:
        await opened.close()


async def test_the_runs_page_shows_a_completed_run(
    site: str, client: RunplaneClient, page: Page
) -> None:
    run = await completed_run(client, unique("etl"))
    await page.goto(f"{site}/runs")
    await expect(page.locator(f"#run-{run.id}")).to_contain_text("Completed")
    await expect(page.locator("#runs-chart rect.state-completed").first).to_be_visible()


async def test_a_new_run_appears_in_the_list_without_reload(
    site: str, client: RunplaneClient, page: Page
) -> None:
    flow = unique("arriving")
    await completed_run(client, flow)
    await page.goto(f"{site}/runs?flow={flow}")
    await expect(page.locator("#runs tbody tr")).to_have_count(1)
    await page.evaluate("window.sameDocument = true")
    run = await started_run(client, flow)
    await expect(page.locator(f"#run-{run.id}")).to_contain_text("Running")
    assert await page.evaluate("window.sameDocument") is True


async def test_a_run_page_shows_its_task_timeline_and_logs(
    site: str, client: RunplaneClient, page: Page
) -> None:
    run = await completed_run(client, unique("etl"))
    await page.goto(f"{site}/runs")
    await page.locator(f"#run-{run.id} a").click()
    await expect(page.locator("#timeline .task-run")).to_have_count(2)
    await expect(page.locator("#timeline")).to_contain_text("extract")
    await expect(page.locator("#logs")).to_contain_text("loaded 3 rows")


async def test_a_log_line_appears_while_the_page_is_open(
    site: str, client: RunplaneClient, page: Page
) -> None:
    run = await started_run(client, unique("live"))
    await log(client, run.id, "before the page opened")
    await page.goto(f"{site}/runs/{run.id}")
    await expect(page.locator("#logs")).to_contain_text("before the page opened")
    # A mark that a reload would wipe out.
    await page.evaluate("window.sameDocument = true")
    await log(client, run.id, "written while the page is open")
    await expect(page.locator("#logs")).to_contain_text("written while the page is open")
    assert await page.evaluate("window.sameDocument") is True


def _png(width: int, height: int) -> bytes:
    """A grey PNG of that size, so that the browser has a real image to decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


async def test_progress_image_and_row_list_artifacts_on_a_run_page(
    site: str, client: RunplaneClient, page: Page
) -> None:
    # The image host is answered by the browser's own route: nothing leaves the machine.
    image = _png(12, 7)

    async def serve_image(route: Route) -> None:
        await route.fulfill(body=image, content_type="image/png")

    await page.route("https://images.example/**", serve_image)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    run = await started_run(client, unique("media"))
    progress = await client.create_artifact(
        ArtifactType.PROGRESS, "10", key="load", flow_run_id=run.id
    )
    await client.update_artifact(progress.id, "75")
    await client.create_artifact(
        ArtifactType.IMAGE, "https://images.example/chart.png", key="chart", flow_run_id=run.id
    )
    await client.create_artifact(
        ArtifactType.IMAGE,
        'https://images.example/x.png"onerror="alert(1)',
        key="hostile",
        flow_run_id=run.id,
    )
    await client.create_artifact(
        ArtifactType.TABLE, json.dumps([["Oslo", 3], ["Lima", 19]]), flow_run_id=run.id
    )
    await page.goto(f"{site}/runs/{run.id}")

    bar = page.locator(f"#artifact-{progress.id} progress")
    await expect(bar).to_have_attribute("value", "75")
    assert await bar.evaluate("element => element.position") == 0.75
    await expect(page.locator(f"#artifact-{progress.id}")).to_contain_text("75%")

    chart = page.locator("article.artifact", has_text="chart").locator("img")
    await expect(chart).to_have_attribute("src", "https://images.example/chart.png")
    await chart.scroll_into_view_if_needed()  # the images load lazily
    assert await chart.evaluate("img => img.decode().then(() => img.naturalWidth)") == 12

    hostile = page.locator("article.artifact", has_text="hostile").locator("img")
    await expect(hostile).to_have_count(1)
    assert await hostile.get_attribute("onerror") is None
    await hostile.scroll_into_view_if_needed()
    assert await hostile.evaluate("img => img.decode().then(() => img.naturalWidth)") == 12
    assert dialogs == []

    table = page.locator("table.artifact", has_text="Oslo")
    await expect(table.locator("tr")).to_have_count(2)
    await expect(table.locator("th")).to_have_count(0)
    await expect(table.locator("tr").nth(1).locator("td")).to_have_text(["Lima", "19"])


async def test_cancel_from_the_run_page(site: str, client: RunplaneClient, page: Page) -> None:
    run = await started_run(client, unique("cancelled"))
    await page.goto(f"{site}/runs/{run.id}")
    await page.locator("#cancel").click()
    await expect(page.locator("#message")).to_contain_text("cancel requested")
    await expect(page.locator("#run-state")).to_have_text("Cancelling")
    state = (await client.get_flow_run(run.id)).state
    assert state is not None
    assert state.type is StateType.CANCELLING


async def test_a_read_only_key_sees_no_buttons(
    sqlite_database_url: str, tmp_path: Path, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [SecretStr("read:reader-k3y"), SecretStr("admin:admin-k3y")]
    settings = _settings(sqlite_database_url, tmp_path, api_keys=keys)
    async with await create_server(settings) as server:
        admin = Settings(api_url=server.address, api_key=SecretStr("admin-k3y"))
        async with RunplaneClient(admin) as client:
            run = await started_run(client, unique("guarded"))
        # The dashboard calls the API with the key of its environment, as the CLI does.
        monkeypatch.setenv("RUNPLANE_API_KEY", "reader-k3y")
        async with dashboard_beside(settings, server.port) as running:
            assert running is not None
            page = await browser.new_page()
            await page.goto(f"{running.url}/runs/{run.id}")
            await expect(page.locator("#read-only")).to_be_visible()
            await expect(page.locator("#run-state")).to_have_text("Running")
            await expect(page.locator(".actions button")).to_have_count(0)
            await page.close()


async def test_run_now_creates_a_run_that_a_runner_completes(
    site: str, server: RunplaneServer, client: RunplaneClient, page: Page, tmp_path: Path
) -> None:
    pool = unique("browser")
    deployment = await deploy(
        client, "count_run", pool, parameters={"path": str(tmp_path / "count.log")}
    )
    async with runner_process(server.address, tmp_path, pool, "r1"):
        await page.goto(f"{site}/deployments/{deployment.id}")
        await page.locator("#run-now").click()
        await expect(page.locator("#message")).to_contain_text("created")
        await expect(page.locator("#run-state")).to_have_text("Completed", timeout=60_000)
