"""``runplane task-run ls`` and ``task-run logs`` against a real server."""

from __future__ import annotations

import uuid

import pytest
from cli_support import invoke

from runplane import LogRecord, RunplaneClient, Settings, StateType, TaskRunSpec
from runplane._engine.states import make_state
from runplane.server import RunplaneServer

pytestmark = pytest.mark.anyio


async def test_a_task_run_of_its_own_is_listed_and_its_logs_printed(
    server: RunplaneServer,
) -> None:
    key = f"cli.task_{uuid.uuid4().hex[:8]}"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        run = await client.create_task_run(
            TaskRunSpec(task_key=key, name="alone"), state=make_state(StateType.PENDING)
        )
        await client.write_logs(
            [LogRecord(flow_run_id=None, task_run_id=run.id, level=20, message="on my own")]
        )
    code, output = await invoke(server, "task-run", "ls", "--task-key", key)
    assert code == 0, output
    (row,) = [line.split() for line in output.splitlines() if str(run.id) in line]
    assert row[:4] == ["alone", str(run.id), "Pending", "-"]
    code, output = await invoke(server, "task-run", "logs", str(run.id))
    assert code == 0, output
    assert "on my own" in output
    code, output = await invoke(server, "task-run", "logs", str(uuid.uuid4()))
    assert code == 1
    assert "no task run" in output


async def test_task_worker_start_names_what_it_cannot_serve(server: RunplaneServer) -> None:
    code, output = await invoke(server, "task-worker", "start", "no-colon")
    assert code == 2
    assert "is not module:task" in output
    code, output = await invoke(server, "task-worker", "start", "runplane:flow")
    assert code == 2
    assert "is not a @task" in output
