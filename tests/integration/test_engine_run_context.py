"""``get_run_context`` in a flow's code and in its tasks, through a real server."""

from __future__ import annotations

from typing import Any

import pytest
from engine_support import engine_api

import runplane
from runplane import SyncRunplaneClient, flow, task

__all__ = ["engine_api"]


@task(retries=1, retry_delay_seconds=0)
def where_am_i(fail_first: bool) -> dict[str, Any]:
    context = runplane.get_run_context()
    if fail_first and context.task_run_count == 1:
        raise RuntimeError("first attempt")
    return {
        "flow_run_id": context.flow_run.id,
        "task_run_id": context.task_run_id,
        "task_name": context.task_name,
        "attempt": context.task_run_count,
    }


@flow(flow_run_name="context-{day}")
def report(day: str) -> dict[str, Any]:
    context = runplane.get_run_context()
    in_task = where_am_i(fail_first=True)
    return {
        "flow_run_id": context.flow_run.id,
        "name": context.flow_run.name,
        "flow_name": context.flow_run.flow_name,
        "parameters": context.flow_run.parameters,
        "task_run_id": context.task_run_id,
        "in_task": in_task,
    }


def test_flows_and_tasks_see_their_runs(engine_api: SyncRunplaneClient) -> None:
    state = report("monday", return_state=True)
    seen = state.result()
    run = engine_api.get_flow_run(seen["flow_run_id"])
    in_task = seen["in_task"]
    task_run = engine_api.get_task_run(in_task["task_run_id"])
    assert (seen["name"], seen["flow_name"]) == ("context-monday", "report")
    assert seen["parameters"] == {"day": "monday"}
    assert seen["task_run_id"] is None
    assert run.name == "context-monday"
    assert in_task["flow_run_id"] == seen["flow_run_id"]
    assert task_run.flow_run_id == run.id
    assert in_task["task_name"] == "where_am_i"
    assert in_task["attempt"] == 2


def test_outside_a_run_there_is_no_context() -> None:
    with pytest.raises(RuntimeError, match="from a flow run's or a task run's code"):
        runplane.get_run_context()
