"""``runplane flow-run ls | inspect | logs | retry`` against a real server."""

from __future__ import annotations

import os
import signal
import sys
import uuid

import anyio
import pytest
from cli_support import invoke

from runplane import LogRecord, RunplaneClient, Settings, State, StateType
from runplane.server import RunplaneServer

pytestmark = pytest.mark.anyio


async def seeded_run(server: RunplaneServer) -> tuple[str, uuid.UUID]:
    flow_name = f"cli-{uuid.uuid4().hex[:8]}"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        flow = await client.create_flow(flow_name)
        run = await client.create_flow_run(flow.id, name="nightly-load", work_pool_name="etl-pool")
        await client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
        await client.set_flow_run_state(run.id, State(type=StateType.COMPLETED, message="done"))
        await client.create_flow_run(flow.id, name="still-pending")
        await client.write_logs(
            [LogRecord(flow_run_id=run.id, level=40, message="rows rejected: 3", logger_name="etl")]
        )
    return flow_name, run.id


async def test_ls_lists_and_filters_runs(server: RunplaneServer) -> None:
    flow_name, run_id = await seeded_run(server)
    code, output = await invoke(server, "flow-run", "ls", "--flow", flow_name)
    assert code == 0, output
    assert str(run_id) in output
    assert "nightly-load" in output
    assert "still-pending" in output
    assert "Completed" in output
    code, output = await invoke(server, "flow-run", "ls", "--flow", flow_name, "--state", "pending")
    assert code == 0, output
    assert "still-pending" in output
    assert "nightly-load" not in output
    code, output = await invoke(server, "flow-run", "ls", "--work-pool", "etl-pool")
    assert code == 0, output
    assert "nightly-load" in output
    assert "still-pending" not in output
    code, output = await invoke(server, "flow-run", "ls", "--flow", "no-such-flow")
    assert code == 1
    assert "no flow named 'no-such-flow'" in output


async def test_inspect_shows_the_state_history(server: RunplaneServer) -> None:
    flow_name, run_id = await seeded_run(server)
    code, output = await invoke(server, "flow-run", "inspect", str(run_id))
    assert code == 0, output
    assert flow_name in output
    history = output.split("State history")[1]
    assert history.index("Pending") < history.index("Running") < history.index("Completed")
    assert "done" in history
    code, output = await invoke(server, "flow-run", "inspect", str(uuid.uuid4()))
    assert code == 1
    assert "no flow run with id" in output


async def test_logs_prints_stored_lines(server: RunplaneServer) -> None:
    _, run_id = await seeded_run(server)
    code, output = await invoke(server, "flow-run", "logs", str(run_id))
    assert code == 0, output
    assert "ERROR" in output
    assert "etl - rows rejected: 3" in output


async def test_logs_follow_streams_new_lines(server: RunplaneServer) -> None:
    _, run_id = await seeded_run(server)
    env = {**os.environ, "RUNPLANE_API_URL": server.address}
    command = [sys.executable, "-m", "runplane.cli", "flow-run", "logs", str(run_id), "--follow"]
    process = await anyio.open_process(command, env=env)
    assert process.stdout is not None
    seen = ""
    sent = False
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        with anyio.fail_after(60):
            async for chunk in process.stdout:
                seen += chunk.decode()
                if "rows rejected" in seen and not sent:
                    late = LogRecord(flow_run_id=run_id, level=20, message="late line")
                    await client.write_logs([late])
                    sent = True
                if "late line" in seen:
                    break
    process.send_signal(signal.SIGINT)
    with anyio.fail_after(30):
        code = await process.wait()
    await process.aclose()
    assert "INFO" in seen.split("rows rejected")[1]
    assert code == 0


async def test_retry_refuses_runs_it_cannot_run_again(server: RunplaneServer) -> None:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        flow = await client.create_flow(f"cli-{uuid.uuid4().hex[:8]}")
        direct = await client.create_flow_run(flow.id)
        await client.set_flow_run_state(direct.id, State(type=StateType.FAILED))
        pooled = await client.create_flow_run(flow.id, work_pool_name="cli-retry")
        await client.set_flow_run_state(pooled.id, State(type=StateType.PENDING))

    code, output = await invoke(server, "flow-run", "retry", str(direct.id))
    assert (code, output.strip()) == (
        1,
        "not retried: only a run of a work pool has a runner to run it again",
    )
    code, output = await invoke(server, "flow-run", "retry", str(pooled.id))
    assert (code, output.strip()) == (1, "not retried: it is Pending, not finished")
    missing = uuid.uuid4()
    code, output = await invoke(server, "flow-run", "retry", str(missing))
    assert (code, output.strip()) == (1, f"no flow run {missing}")


async def test_inspect_shows_the_traceback_of_a_failed_run(server: RunplaneServer) -> None:
    traceback = 'Traceback (most recent call last):\n  File "etl.py", line 7, in load\n'
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        flow = await client.create_flow(f"cli-{uuid.uuid4().hex[:8]}")
        run = await client.create_flow_run(flow.id, name="broken-load")
        await client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
        message = "the flow run failed: ValueError: boom [1]"
        await client.set_flow_run_state(run.id, State(type=StateType.FAILED, message=message))
        await client.write_logs(
            [
                LogRecord(flow_run_id=run.id, level=20, message="loading", logger_name="etl"),
                LogRecord(
                    flow_run_id=run.id,
                    level=40,
                    message=f"Encountered exception during execution\n{traceback}",
                    logger_name="etl",
                ),
            ]
        )
    code, output = await invoke(server, "flow-run", "inspect", str(run.id))
    assert code == 0, output
    errors = output.split("Errors")[1]
    assert 'File "etl.py", line 7, in load' in errors
    assert "loading" not in errors
