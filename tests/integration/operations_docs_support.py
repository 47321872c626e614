"""Runs the grpcurl commands of docs/operations.md: reading them, the data they act on, the shell.

Each command in the page is a fenced ``sh`` block right after a ``<!-- check: NAME -->``
marker. A block runs in ``bash`` as an operator would paste it, with the variables the page
tells the operator to set (``RUNPLANE_API_URL``, ``FLOW_RUN_ID``, ...) in its environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import anyio

from runplane import (
    Deployment,
    DeploymentSchedule,
    FlowRunFilter,
    IntervalSchedule,
    LogRecord,
    RunplaneClient,
    State,
    StateDetails,
    StateType,
)

PAGE = Path(__file__).parents[2] / "docs" / "operations.md"
_CHECKED_BLOCK = re.compile(
    r"<!-- check: (?P<name>[a-z0-9-]+) -->\n```sh\n(?P<script>.*?)```", re.S
)
_ANY_BLOCK = re.compile(r"^```[^\n]*\n(?P<body>.*?)^```", re.S | re.M)

# The names the page uses in its examples.
FLOW_NAME = "nightly-etl"
DEPLOYMENT_NAME = "prod"
WORK_POOL = "etl-pool"
FAILURE = "ValueError: the input file is empty"
LOG_LINES = [(20, "reading the input file"), (40, FAILURE)]


def checked_commands() -> dict[str, str]:
    """The page's checked blocks by name, in page order."""
    text = PAGE.read_text()
    found: dict[str, str] = {}
    for match in _CHECKED_BLOCK.finditer(text):
        assert match["name"] not in found, f"two blocks are checked as {match['name']}"
        found[match["name"]] = match["script"]
    return found


def grpcurl_blocks() -> list[str]:
    """Every fenced block of the page that runs grpcurl, checked or not."""
    blocks = [m["body"] for m in _ANY_BLOCK.finditer(PAGE.read_text())]
    return [b for b in blocks if re.search(r"^\s*grpcurl\s", b, re.M)]


@dataclass(frozen=True)
class Outcome:
    """What a command printed and how it exited."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout)


async def run_block(script: str, variables: dict[str, str]) -> Outcome:
    """Runs one block in bash, off the event loop that serves the server it calls."""
    bin_dir = str(Path(sys.executable).parent)  # grpcurl and python3 live next to pytest's python
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNPLANE_")}
    env.update(variables, PATH=bin_dir + os.pathsep + env.get("PATH", ""))
    command = ["bash", "-e", "-o", "pipefail", "-c", script]
    result = await anyio.to_thread.run_sync(
        lambda: subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


@dataclass(frozen=True)
class Seeded:
    """The runs and deployment the page's commands act on."""

    failed_run: UUID
    late_run: UUID
    run_to_cancel: UUID
    deployment: UUID


async def seed(client: RunplaneClient) -> Seeded:
    """Real data made through the API: a run that failed with logs, a late run, a run due
    later, and a deployment whose interval schedule has runs ahead."""
    flow = await client.create_flow(FLOW_NAME)
    failed = await client.create_flow_run(flow.id, name="failed-run")
    await client.set_flow_run_state(failed.id, State(type=StateType.RUNNING))
    await client.set_flow_run_state(failed.id, State(type=StateType.FAILED, message=FAILURE))
    await client.write_logs(
        [
            LogRecord(flow_run_id=failed.id, level=level, message=text, logger_name="etl")
            for level, text in LOG_LINES
        ]
    )
    due = datetime.now(UTC) - timedelta(minutes=5)
    late = await _scheduled_run(client, flow.id, due)
    # What the server's late marker does 15 s after the due time, done now.
    late_state = State(
        type=StateType.SCHEDULED, name="Late", details=StateDetails(scheduled_time=due)
    )
    await client.set_flow_run_state(late, late_state)
    state = (await client.get_flow_run(late)).state
    assert state is not None
    assert state.name == "Late"
    to_cancel = await _scheduled_run(client, flow.id, datetime.now(UTC) + timedelta(hours=1))
    start = datetime.now(UTC) + timedelta(hours=1)
    schedule = IntervalSchedule(interval=timedelta(hours=1), anchor_time=start)
    deployment = await client.create_deployment(
        Deployment(
            name=DEPLOYMENT_NAME,
            flow_name=FLOW_NAME,
            entrypoint="etl.py:nightly_etl",
            work_pool_name=WORK_POOL,
            schedules=(DeploymentSchedule(schedule=schedule),),
        )
    )
    assert deployment.id is not None
    return Seeded(failed.id, late, to_cancel, deployment.id)


async def _scheduled_run(client: RunplaneClient, flow_id: UUID, when: datetime) -> UUID:
    state = State(type=StateType.SCHEDULED, details=StateDetails(scheduled_time=when))
    return (await client.create_flow_run(flow_id, state=state)).id


async def upcoming_runs(client: RunplaneClient, deployment_id: UUID) -> int:
    """How many of the deployment's runs are scheduled for later."""
    page = await client.list_flow_runs(
        FlowRunFilter(
            deployment_ids=(deployment_id,),
            state_types=(StateType.SCHEDULED,),
            expected_start_time_after=datetime.now(UTC),
        ),
        page_size=200,
    )
    return len(page)
