"""Deployments whose flows exist only in JavaScript, executed by the Node worker example.

A Python client registers and runs them through a real server; the worker in
``examples/node-worker`` (a real ``node`` process) takes them from the work stream.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from e2e_support import ROOT, is_final, runner_process, wait_runs
from e2e_support import deploy as deploy_python

from runplane import (
    Deployment,
    FlowRun,
    LogFilter,
    LogRecord,
    RunplaneClient,
    Settings,
    State,
    StateType,
    arun_deployment,
)
from runplane.server import RunplaneServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

NODE_WORKER = ROOT / "examples" / "node-worker"
POOL = "node"
FLOW = "node-examples"


@pytest.fixture
def node() -> str:
    """The ``node`` executable, once the example's packages are installed.

    Skips without them, except in CI (``CI=true``), where their absence is a failure.
    """
    node = shutil.which("node")
    if node is None:
        missing = "node is not installed"
    elif not (NODE_WORKER / "node_modules").is_dir():
        missing = f"{NODE_WORKER / 'node_modules'} is missing: run `npm ci` there (make test does)"
    else:
        return node
    if os.environ.get("CI") == "true":
        pytest.fail(missing)
    pytest.skip(missing)


@asynccontextmanager
async def node_worker(node: str, api_url: str) -> AsyncIterator[list[str]]:
    """A Node worker on pool ``node``, yielded once subscribed; yields its output so far,
    and checks on the way out that SIGTERM stops it cleanly."""
    env = {**os.environ, "RUNPLANE_API_URL": api_url}
    env.pop("RUNPLANE_API_KEY", None)
    command = [node, "worker.js", "--pool", POOL, "--name", "node-e2e"]
    # Faster heartbeats than the e2e server's 3 s timeout; short graces keep teardown quick.
    command += ["--heartbeat-interval", "0.5", "--cancel-grace", "5", "--shutdown-grace", "5"]
    process = await anyio.open_process(command, env=env, cwd=NODE_WORKER, stderr=subprocess.STDOUT)
    output: list[str] = []
    try:
        async with anyio.create_task_group() as group:
            subscribed = anyio.Event()
            group.start_soon(_collect, process, output, subscribed)
            with anyio.fail_after(30):
                await subscribed.wait()
            yield output
            process.send_signal(signal.SIGTERM)
            with anyio.fail_after(15):
                code = await process.wait()
            assert code == 0, "".join(output)
    finally:
        if process.returncode is None:
            process.kill()
        await process.aclose()


async def _collect(process: Process, output: list[str], subscribed: anyio.Event) -> None:
    assert process.stdout is not None
    async for chunk in TextReceiveStream(process.stdout):
        output.append(chunk)
        if "subscribed to work pool" in "".join(output):
            subscribed.set()
    if not subscribed.is_set():
        raise AssertionError(f"the node worker exited before subscribing:\n{''.join(output)}")


async def deploy(client: RunplaneClient, handler: str) -> Deployment:
    """A deployment whose flow is the JavaScript function ``handler`` of the example file."""
    return await client.create_deployment(
        Deployment(
            name=handler,
            flow_name=FLOW,
            entrypoint=f"handlers/examples.js:{handler}",
            work_pool_name=POOL,
            runtime="node",
        )
    )


async def logs_of(client: RunplaneClient, run_id: UUID) -> list[tuple[str, int, str]]:
    page = await client.list_logs(LogFilter(flow_run_id=run_id), page_size=200)
    return [(record.logger_name, record.level, record.message) for record in page]


async def first_log_with(client: RunplaneClient, run_id: UUID, text: str) -> LogRecord:
    records = client.follow_logs(LogFilter(flow_run_id=run_id))
    with anyio.fail_after(30):
        async with aclosing(records):
            async for record in records:
                if text in record.message:
                    return record
    raise AssertionError("the log stream ended")


async def heartbeat_after_start(client: RunplaneClient, run_id: UUID) -> FlowRun:
    """The run once a heartbeat was recorded after it started."""
    with anyio.fail_after(10):
        while True:
            run = await client.get_flow_run(run_id)
            if run.start_time and run.heartbeat_time and run.heartbeat_time > run.start_time:
                return run
            await anyio.sleep(0.05)


async def run_to_the_end(
    node: str, server: RunplaneServer, handler: str, **parameters: Any
) -> tuple[FlowRun, list[tuple[str, int, str]]]:
    """Deploys ``handler``, runs it on a Node worker until it ends: the run and its logs."""
    settings = Settings(api_url=server.address)
    async with RunplaneClient(settings) as client:
        await deploy(client, handler)
        async with node_worker(node, server.address):
            run = await arun_deployment(
                f"{FLOW}/{handler}", parameters=parameters, timeout=30, settings=settings
            )
        assert run.state is not None
        assert run.state.is_final(), f"the run is still {run.state.type}"
        return run, await logs_of(client, run.id)


async def test_a_javascript_flow_completes_with_its_result_and_logs(
    node: str, server: RunplaneServer
) -> None:
    run, logs = await run_to_the_end(node, server, "greet", name="Ada")
    assert run.state is not None
    assert run.state.type is StateType.COMPLETED, run.state.message
    result = run.state.result()
    assert result["greeting"] == "Hello, Ada!"
    assert result["runtime"].startswith("node v")
    assert run.state.result_ref is not None
    assert run.state.result_ref.serializer == "json"
    assert ("runplane.flow_runs", 20, f"greeting Ada in flow run {run.name}") in logs


async def test_a_javascript_error_fails_the_run_with_its_message(
    node: str, server: RunplaneServer
) -> None:
    run, logs = await run_to_the_end(node, server, "fail", reason="no such planet: Pluto")
    assert run.state is not None
    assert run.state.type is StateType.FAILED
    assert run.state.message == "the flow run failed: Error: no such planet: Pluto"
    assert "no such planet: Pluto" in str(run.state.result(raise_on_failure=False))
    assert ("runplane.flow_runs", 30, "about to fail: no such planet: Pluto") in logs
    failures = [message for _, level, message in logs if level == 40]
    assert any(m.startswith("handler failed: Error: no such planet: Pluto") for m in failures)


async def test_cancelling_a_javascript_run_aborts_its_handler(
    node: str, server: RunplaneServer
) -> None:
    settings = Settings(api_url=server.address)
    async with RunplaneClient(settings) as client:
        await deploy(client, "wait")
        async with node_worker(node, server.address):
            started = await arun_deployment(
                f"{FLOW}/wait", parameters={"seconds": 600}, timeout=0, settings=settings
            )
            # The handler is running once its first line is stored.
            await first_log_with(client, started.id, "waiting 600 s")
            # The worker heartbeats the run while its handler works.
            await heartbeat_after_start(client, started.id)
            await client.set_flow_run_state(started.id, State(type=StateType.CANCELLING))
            runs = await wait_runs(client, [started.id], is_final)
        logs = await logs_of(client, started.id)
    final = runs[started.id].state
    assert final is not None
    assert final.type is StateType.CANCELLED, final.message
    assert final.message == "cancelled by the node worker"
    # The handler saw its signal abort: it logged so before rejecting.
    assert ("runplane.flow_runs", 30, "aborted: the flow run was cancelled") in logs


async def test_a_python_runner_on_the_pool_leaves_javascript_runs_to_the_node_worker(
    node: str, server: RunplaneServer, tmp_path: Path
) -> None:
    settings = Settings(api_url=server.address)
    log = tmp_path / "runs.txt"
    async with RunplaneClient(settings) as client:
        await deploy(client, "greet")
        await deploy_python(client, "count_run", POOL, parameters={"path": str(log)})
        async with runner_process(server.address, tmp_path, POOL, "python-e2e"):
            javascript = await arun_deployment(
                f"{FLOW}/greet", parameters={"name": "Ada"}, timeout=0, settings=settings
            )
            # The Python runner takes and finishes the Python run due after the JavaScript
            # one, which it has passed over: it still waits for a runner of its runtime.
            python = await arun_deployment("count_run/count_run-e2e", timeout=30, settings=settings)
            waiting = await client.get_flow_run(javascript.id)
            async with node_worker(node, server.address):
                runs = await wait_runs(client, [javascript.id], is_final)
    assert python.state is not None
    assert python.state.type is StateType.COMPLETED, python.state.message
    assert waiting.state is not None
    assert waiting.state.type is StateType.SCHEDULED, waiting.state.message
    final = runs[javascript.id].state
    assert final is not None
    assert final.type is StateType.COMPLETED, final.message
    assert final.result()["runtime"].startswith("node v")
