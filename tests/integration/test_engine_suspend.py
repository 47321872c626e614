"""``suspend_flow_run`` in the engine, through a real server, without a runner: the test runs
the deployment's flow run in place, as a runner's process would, before and after resuming."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from engine_support import engine_api

from runplane import (
    Deployment,
    RetryPolicy,
    RunAborted,
    StateType,
    SyncRunplaneClient,
    asuspend_flow_run,
    flow,
    resume_flow_run,
    suspend_flow_run,
    task,
)
from runplane.engine import exit_code, run_flow_run

__all__ = ["engine_api"]


def test_an_async_flow_suspends_and_runs_to_the_end_once_resumed(
    engine_api: SyncRunplaneClient,
) -> None:
    calls: list[str] = []

    @task(persist_result=True)
    def extract() -> int:
        calls.append("extract")
        return 41

    @flow(name=f"suspending-{uuid.uuid4().hex[:8]}")
    async def suspending() -> int:
        calls.append("flow")
        value = extract()
        await asuspend_flow_run(timeout=600)
        calls.append("after")
        return value + 1

    deployment = engine_api.create_deployment(
        Deployment(flow_name=suspending.name, name="manual", entrypoint="here.py:suspending")
    )
    assert deployment.id is not None
    run = engine_api.run_deployment(deployment.id)

    first = run_flow_run(run.id, suspending)
    assert (first.type, first.name) == (StateType.PAUSED, "Suspended")
    assert exit_code(first) == 0
    assert calls == ["flow", "extract"]
    resumed = resume_flow_run(run.id)
    assert (resumed.type, resumed.name) == (StateType.SCHEDULED, "Resuming")
    with pytest.raises(RunAborted, match="not paused"):
        resume_flow_run(run.id)
    second = run_flow_run(run.id, suspending)
    assert second.type is StateType.COMPLETED
    assert second.result() == 42
    assert calls == ["flow", "extract", "flow", "after"]  # extract's result was reused


def test_only_a_deployment_run_suspends_and_only_from_the_flow_itself(
    engine_api: SyncRunplaneClient,
) -> None:
    @task
    def inner() -> None:
        suspend_flow_run()

    @flow
    def direct() -> None:
        suspend_flow_run()

    @flow
    def from_a_task() -> None:
        inner()

    with pytest.raises(RuntimeError, match="only a deployment's flow run can be suspended"):
        direct()
    with pytest.raises(RuntimeError, match="not a task's"):
        from_a_task()
    with pytest.raises(ValueError, match="timeout must be positive"):
        asyncio.run(asuspend_flow_run(timeout=0))


def test_a_retried_attempt_after_the_resume_does_not_suspend_again(
    engine_api: SyncRunplaneClient,
) -> None:
    attempts: list[str] = []

    @flow(name=f"retrying-{uuid.uuid4().hex[:8]}", retries=1, retry_delay_seconds=0)
    def retrying() -> str:
        suspend_flow_run(timeout=600)
        attempts.append("after")
        if len(attempts) == 1:
            raise ValueError("the first attempt after the resume fails")
        return "done"

    deployment = engine_api.create_deployment(
        Deployment(
            flow_name=retrying.name,
            name="manual",
            entrypoint="here.py:retrying",
            retry_policy=RetryPolicy(retries=1),
        )
    )
    assert deployment.id is not None
    run = engine_api.run_deployment(deployment.id)
    assert run_flow_run(run.id, retrying).name == "Suspended"
    resume_flow_run(run.id)
    final = run_flow_run(run.id, retrying)
    assert final.type is StateType.COMPLETED
    assert attempts == ["after", "after"]
