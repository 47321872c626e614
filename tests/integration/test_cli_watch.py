"""Watching runs from scripts: a line a change off a terminal, and exit codes that say how
the watched runs ended."""

from __future__ import annotations

import os
import sys
import uuid

import anyio
import pytest
from cli_support import invoke

from runplane import Deployment, FlowRunFilter, RunplaneClient, Settings, State, StateType
from runplane.cli.exit_codes import ExitCode
from runplane.server import RunplaneServer

pytestmark = pytest.mark.anyio


async def ended_run(server: RunplaneServer, final: StateType) -> uuid.UUID:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        flow = await client.create_flow(f"watch-{uuid.uuid4().hex[:8]}")
        run = await client.create_flow_run(flow.id)
        await client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
        await client.set_flow_run_state(run.id, State(type=final, message="the end"))
    return run.id


@pytest.mark.parametrize(
    ("final", "code"),
    [
        (StateType.COMPLETED, ExitCode.OK),
        (StateType.FAILED, ExitCode.RUN_NOT_COMPLETED),
        (StateType.CRASHED, ExitCode.RUN_NOT_COMPLETED),
        (StateType.CANCELLED, ExitCode.RUN_NOT_COMPLETED),
    ],
)
async def test_watch_exits_zero_only_when_the_run_completed(
    server: RunplaneServer, final: StateType, code: ExitCode
) -> None:
    run_id = await ended_run(server, final)
    exit_code, output = await invoke(server, "flow-run", "watch", str(run_id))
    assert exit_code == code, output


async def test_watch_off_a_terminal_prints_each_change_as_it_happens(
    server: RunplaneServer,
) -> None:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        flow = await client.create_flow(f"watch-{uuid.uuid4().hex[:8]}")
        run = await client.create_flow_run(flow.id, name="watched")
        env = {**os.environ, "RUNPLANE_API_URL": server.address}
        command = [sys.executable, "-m", "runplane.cli", "flow-run", "watch", str(run.id)]
        process = await anyio.open_process(command, env=env)
        assert process.stdout is not None
        seen = ""
        started = False
        with anyio.fail_after(60):
            async for chunk in process.stdout:
                seen += chunk.decode()
                # The change is written while the watch goes on, not when it ends; once, since
                # a line may come in several chunks and RUNNING again would be a change too.
                if "\tPending\t" in seen and not started:
                    await client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
                    started = True
                if "\tRunning\t" in seen:
                    await client.set_flow_run_state(
                        run.id, State(type=StateType.FAILED, message="rows\nrejected")
                    )
                    break
            # The rest of the output, up to the process's exit.
            async for chunk in process.stdout:
                seen += chunk.decode()
            code = await process.wait()
        await process.aclose()
    lines = seen.splitlines()
    assert [line.split("\t")[1:5] for line in lines] == [
        [str(run.id), "watched", flow.name, name] for name in ("Pending", "Running", "Failed")
    ]
    assert lines[-1].split("\t")[5] == "rows rejected"
    assert code == ExitCode.RUN_NOT_COMPLETED


async def test_deployment_run_watch_exits_non_zero_when_the_run_fails(
    server: RunplaneServer,
) -> None:
    flow_name = f"watch-{uuid.uuid4().hex[:8]}"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await client.create_deployment(
            Deployment(name="nightly", flow_name=flow_name, entrypoint="etl.py:nightly")
        )
        assert deployment.id is not None
        only_its_runs = FlowRunFilter(deployment_ids=(deployment.id,))
        outcome: list[tuple[int, str]] = []

        async def run_and_watch() -> None:
            outcome.append(
                await invoke(server, "deployment", "run", f"{flow_name}/nightly", "--watch")
            )

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run_and_watch)
            with anyio.fail_after(60):
                changes = client.watch_flow_runs(only_its_runs, include_current=True)
                async for change in changes:
                    run_id = change.flow_run.id
                    break
                await changes.aclose()
                await client.set_flow_run_state(run_id, State(type=StateType.RUNNING))
                await client.set_flow_run_state(run_id, State(type=StateType.FAILED))
    ((code, output),) = outcome
    assert code == ExitCode.RUN_NOT_COMPLETED, output
    assert "Failed" in output
