"""``runplane.runtime``: the calling code's flow run and task run, as ``prefect.runtime``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from engine_support import any_engine_api, tagged_runs, task_runs

from runplane import (
    Deployment,
    State,
    StateDetails,
    StateType,
    SyncRunplaneClient,
    flow,
    runtime,
    tags,
    task,
)
from runplane.engine import run_flow_run

__all__ = ["any_engine_api"]


def _seen() -> dict[str, Any]:
    return {
        "flow_run_id": runtime.flow_run.id,
        "flow_run_name": runtime.flow_run.name,
        "flow_name": runtime.flow_run.flow_name,
        "parameters": runtime.flow_run.parameters,
        "deployment_id": runtime.flow_run.deployment_id,
        "scheduled_start_time": runtime.flow_run.scheduled_start_time,
        "task_run_id": runtime.task_run.id,
        "task_run_name": runtime.task_run.name,
        "task_parameters": runtime.task_run.parameters,
    }


@task(task_run_name="look-{times}")
def look(times: int) -> dict[str, Any]:
    return _seen()


@task
def plain_look(times: int) -> dict[str, Any]:
    return _seen()


@flow(flow_run_name="watch-{day}")
def watch(day: str, size: int = 2) -> dict[str, Any]:
    submitted = plain_look.submit(3)
    return {"flow": _seen(), "task": look(size), "submitted": submitted.result()}


def test_runtime_reads_the_runs_of_the_calling_code(any_engine_api: SyncRunplaneClient) -> None:
    with tags("watched"):
        seen = watch("monday")
    (run,) = tagged_runs(any_engine_api, "watched")
    by_name = {task_run.name: task_run for task_run in task_runs(any_engine_api, run.id)}
    in_flow, in_task = seen["flow"], seen["task"]
    assert in_flow["flow_run_id"] == run.id
    assert in_flow["flow_run_name"] == "watch-monday" == run.name
    assert in_flow["flow_name"] == "watch"
    assert in_flow["parameters"] == {"day": "monday", "size": 2}
    assert in_flow["deployment_id"] is None
    assert in_flow["scheduled_start_time"] is not None
    assert in_flow["scheduled_start_time"] == run.expected_start_time
    assert in_flow["task_run_id"] is None
    assert in_flow["task_run_name"] is None
    assert in_flow["task_parameters"] == {}
    assert in_task["flow_run_id"] == run.id
    assert in_task["parameters"] == {"day": "monday", "size": 2}
    assert in_task["task_run_id"] == by_name["look-2"].id
    assert in_task["task_run_name"] == "look-2"
    assert in_task["task_parameters"] == {"times": 2}
    submitted = seen["submitted"]
    assert submitted["task_run_id"] == by_name["plain_look-0"].id
    assert submitted["task_run_name"] == "plain_look-0"
    assert submitted["task_parameters"] == {"times": 3}


@flow
def deployed(day: str) -> dict[str, Any]:
    return _seen()


def test_a_deployments_run_knows_its_deployment_and_due_time(
    any_engine_api: SyncRunplaneClient,
) -> None:
    flow_record = any_engine_api.create_flow("deployed")
    deployment = any_engine_api.create_deployment(
        Deployment(
            name=f"nightly-{uuid.uuid4().hex[:8]}",
            flow_name="deployed",
            entrypoint="runtime.py:deployed",
        )
    )
    due = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    created = any_engine_api.create_flow_run(
        flow_record.id,
        parameters={"day": "friday"},
        deployment_id=deployment.id,
        state=State(type=StateType.SCHEDULED, details=StateDetails(scheduled_time=due)),
    )
    state = run_flow_run(created.id, deployed)
    seen = state.result()
    assert seen["flow_run_id"] == created.id
    assert seen["deployment_id"] == deployment.id
    assert seen["scheduled_start_time"] == due
    assert seen["parameters"] == {"day": "friday"}


def test_outside_a_run_everything_is_empty() -> None:
    assert _seen() == {
        "flow_run_id": None,
        "flow_run_name": None,
        "flow_name": None,
        "parameters": {},
        "deployment_id": None,
        "scheduled_start_time": None,
        "task_run_id": None,
        "task_run_name": None,
        "task_parameters": {},
    }
