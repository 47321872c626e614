"""Screenshots of the dashboard for the README: the runs page and a run's timeline.

Starts ``runplane server start`` (API and dashboard) on free loopback ports with a fresh home,
runs a few real flows against it in this process, and photographs the pages with Debian's
headless Chromium into ``docs/dashboard-runs.png`` and ``docs/dashboard-run.png``.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _free_ports() -> tuple[int, int]:
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        return first.getsockname()[1], second.getsockname()[1]


def _wait_for_line(process: subprocess.Popen[str], text: str) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if text in line:
            return
    raise SystemExit(f"the server exited ({process.wait()}) before saying {text!r}")


def _run_flows() -> None:
    """Runs the example flows: an ETL whose extract fails once and is retried, with a
    subflow and a report, and a few small runs, some failed, for the runs chart."""
    from runplane import create_markdown_artifact, flow, task

    attempts: dict[str, int] = {}

    @task(retries=2, retry_delay_seconds=0.2)
    def extract(source: str) -> list[int]:
        attempts[source] = attempts.get(source, 0) + 1
        time.sleep(0.3)
        if attempts[source] == 1:
            raise ConnectionError(f"{source} did not answer")
        return list(range(8))

    @task
    def transform(x: int) -> int:
        time.sleep(random.uniform(0.1, 0.6))
        return x * x

    @task
    def load(values: list[int]) -> int:
        time.sleep(0.4)
        return sum(values)

    @flow(log_prints=True)
    def report(total: int) -> None:
        time.sleep(0.2)
        table = f"| metric | value |\n|---|---|\n| total | {total} |"
        create_markdown_artifact(f"# Nightly report\n\n{table}", key="nightly-report")
        print(f"report written: total = {total}")

    @flow(log_prints=True)
    def etl(source: str = "warehouse") -> int:
        rows = extract(source)
        squares = [future.result() for future in transform.map(rows)]
        total = load(squares)
        report(total)
        print(f"loaded {len(squares)} rows from {source}")
        return total

    @flow
    def flaky(n: int = 1) -> None:
        if n % 3 == 0:
            raise ValueError("bad batch")

    for n in range(12):
        with contextlib.suppress(ValueError):
            flaky(n)
    etl("warehouse")


def main() -> None:
    from playwright.sync_api import sync_playwright

    api_port, dashboard_port = _free_ports()
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "RUNPLANE_HOME": home,
            "RUNPLANE_SERVER_PORT": str(api_port),
            "RUNPLANE_SERVER_DASHBOARD_ENABLED": "true",
            "RUNPLANE_SERVER_DASHBOARD_PORT": str(dashboard_port),
            "RUNPLANE_CONSOLE_LINES": "false",
        }
        env.pop("RUNPLANE_API_URL", None)
        command = [sys.executable, "-m", "runplane.cli", "server", "start"]
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as server:
            try:
                _wait_for_line(server, "runplane.server.dashboard dashboard on")
                os.environ["RUNPLANE_API_URL"] = f"127.0.0.1:{api_port}"
                os.environ["RUNPLANE_HOME"] = home
                _run_flows()
                site = f"http://127.0.0.1:{dashboard_port}"
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
                    page = browser.new_page(viewport={"width": 1200, "height": 760})
                    page.goto(f"{site}/runs")
                    page.screenshot(path=DOCS / "dashboard-runs.png")
                    page.locator("tr", has_text="etl-").locator("a").first.click()
                    page.wait_for_selector("#timeline")
                    # The header and the timeline: the logs below hold this machine's paths.
                    page.set_viewport_size({"width": 1200, "height": 840})
                    page.screenshot(path=DOCS / "dashboard-run.png")
                    browser.close()
            finally:
                server.terminate()
                server.wait(timeout=15)
    print(f"wrote {DOCS / 'dashboard-runs.png'} and {DOCS / 'dashboard-run.png'}")


if __name__ == "__main__":
    main()
