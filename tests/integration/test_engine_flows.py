"""Flows through a real server: states, parameters, retries, timeouts, hooks, subflows, results."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from engine_support import engine_api, flow_state_names, log_messages, state_names, task_runs

from runplane import (
    FlowRunFilter,
    ParameterValidationError,
    State,
    StateType,
    SyncRunplaneClient,
    TimedOut,
    flow,
    get_run_logger,
    tags,
    task,
)
from runplane._runtime.context import flow_run_context

__all__ = ["engine_api"]


def current_flow_run_id() -> uuid.UUID:
    context = flow_run_context.get()
    assert context is not None
    return context.flow_run_id


@task
def double(x: int) -> int:
    return 2 * x


def test_a_flow_returns_its_value_with_every_task_run_recorded(
    engine_api: SyncRunplaneClient,
) -> None:
    seen: list[uuid.UUID] = []

    @flow
    def pipeline(n: int) -> int:
        seen.append(current_flow_run_id())
        return sum(double(i) for i in range(n))

    assert pipeline(50) == 2450
    run = engine_api.get_flow_run(seen[0])
    assert run.state is not None
    assert run.state.type is StateType.COMPLETED
    assert flow_state_names(engine_api, run.id) == ["Running", "Completed"]
    recorded = task_runs(engine_api, run.id)
    assert len(recorded) == 50  # no waiting: recorded by the time the call returned
    assert {r.state.name for r in recorded if r.state} == {"Completed"}
    assert state_names(engine_api, recorded[0].id) == ["Running", "Completed"]


def test_bad_parameters_fail_the_run_naming_the_field(engine_api: SyncRunplaneClient) -> None:
    called: list[int] = []

    @flow(name=f"typed-{uuid.uuid4().hex[:8]}")
    def typed(count: int, label: str = "x") -> int:
        called.append(count)
        return count

    with pytest.raises(ParameterValidationError, match="count"):
        typed("many")  # type: ignore[arg-type]
    assert called == []
    flow_id = engine_api.get_flow_by_name(typed.name).id
    (run,) = engine_api.list_flow_runs(FlowRunFilter(flow_ids=(flow_id,)))
    assert run.state is not None
    assert run.state.type is StateType.FAILED
    assert "count" in run.state.message
    assert typed("7") == 7  # coerced by pydantic


def test_a_failing_flow_retries_through_awaiting_retry(engine_api: SyncRunplaneClient) -> None:
    attempts: list[uuid.UUID] = []

    @flow(retries=2, retry_delay_seconds=0.05)
    def flaky() -> str:
        attempts.append(current_flow_run_id())
        if len(attempts) < 2:
            raise RuntimeError("first attempt fails")
        return "ok"

    assert flaky() == "ok"
    run = engine_api.get_flow_run(attempts[0])
    assert attempts == [run.id, run.id]
    assert run.run_count == 2
    names = flow_state_names(engine_api, run.id)
    assert names == ["Running", "AwaitingRetry", "Retrying", "Completed"]


def test_a_flow_over_its_timeout_fails_timed_out(engine_api: SyncRunplaneClient) -> None:
    never = threading.Event()
    ids: list[uuid.UUID] = []

    @flow(timeout_seconds=0.2)
    def slow() -> None:
        ids.append(current_flow_run_id())
        never.wait(30)

    state = slow(return_state=True)
    assert state.type is StateType.FAILED
    assert state.name == "TimedOut"
    with pytest.raises(TimedOut):
        slow()
    assert engine_api.get_flow_run(ids[0]).state.name == "TimedOut"  # type: ignore[union-attr]


def test_hooks_get_the_flow_the_run_and_the_final_state(engine_api: SyncRunplaneClient) -> None:
    calls: list[tuple[str, str, StateType]] = []

    def record(kind: str) -> Any:
        def hook(fl: Any, run: Any, state: State) -> None:
            calls.append((kind, fl.name, state.type))

        return hook

    def broken(fl: Any, run: Any, state: State) -> None:
        raise ValueError("a hook error never changes the state")

    @flow(
        name="hooked",
        on_running=[record("running")],
        on_completion=[broken, record("completed")],
        on_failure=[record("failed")],
    )
    def hooked(fail: bool) -> int:
        if fail:
            raise KeyError("boom")
        return 1

    assert hooked(False) == 1
    with pytest.raises(KeyError):
        hooked(True)
    assert calls == [
        ("running", "hooked", StateType.RUNNING),
        ("completed", "hooked", StateType.COMPLETED),
        ("running", "hooked", StateType.RUNNING),
        ("failed", "hooked", StateType.FAILED),
    ]


def test_run_names_tags_and_return_state(engine_api: SyncRunplaneClient) -> None:
    ids: list[uuid.UUID] = []

    @flow(flow_run_name="report-{day}", tags=["nightly"])
    def report(day: str) -> str:
        ids.append(current_flow_run_id())
        return day.upper()

    with tags("team-a"):
        state = report("monday", return_state=True)
    assert state.is_completed()
    assert state.result() == "MONDAY"
    run = engine_api.get_flow_run(ids[0])
    assert run.name == "report-monday"
    assert set(run.tags) == {"nightly", "team-a"}


def test_async_flows_run_async_tasks(engine_api: SyncRunplaneClient) -> None:
    ids: list[uuid.UUID] = []

    @task
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    @flow
    async def gather() -> list[int]:
        ids.append(current_flow_run_id())
        first = await fetch(1)
        futures = fetch.map([10, 20])
        return [first, *[f.result() for f in futures]]

    assert asyncio.run(gather()) == [2, 11, 21]
    recorded = task_runs(engine_api, ids[0])
    assert len(recorded) == 3
    assert all(r.state is not None and r.state.is_completed() for r in recorded)


def test_a_subflow_is_linked_to_a_tracking_task_run(engine_api: SyncRunplaneClient) -> None:
    ids: dict[str, uuid.UUID] = {}

    @flow
    def child(x: int) -> int:
        ids["child"] = current_flow_run_id()
        return x * 10

    @flow
    def parent() -> int:
        ids["parent"] = current_flow_run_id()
        return child(4) + 1

    assert parent() == 41
    child_run = engine_api.get_flow_run(ids["child"])
    assert child_run.parent_task_run_id is not None
    tracking = engine_api.get_task_run(child_run.parent_task_run_id)
    assert tracking.flow_run_id == ids["parent"]
    assert tracking.state is not None
    assert tracking.state.is_completed()
    assert tracking.state.details.child_flow_run_id == ids["child"]


def test_persisted_results_are_read_back_from_the_state(engine_api: SyncRunplaneClient) -> None:
    ids: list[uuid.UUID] = []

    @flow(persist_result=True)
    def produce() -> dict[str, Any]:
        ids.append(current_flow_run_id())
        return {"rows": [1, 2, 3], "when": uuid.UUID(int=7)}

    produce()
    stored = engine_api.get_flow_run(ids[0]).state
    assert stored is not None
    assert stored.result_ref is not None
    assert stored.result() == {"rows": [1, 2, 3], "when": uuid.UUID(int=7)}


def test_an_unserializable_result_fails_the_run_saying_why(
    engine_api: SyncRunplaneClient,
) -> None:
    @flow(persist_result=True, result_serializer="json")
    def produce() -> object:
        return object()

    state = produce(return_state=True)
    assert state.type is StateType.FAILED
    assert "could not be persisted" in state.message
    assert "JSON" in state.message


def test_logs_and_prints_reach_the_server(engine_api: SyncRunplaneClient) -> None:
    ids: list[uuid.UUID] = []

    @task(log_prints=True)
    def noisy() -> None:
        print("from a task")

    @flow(log_prints=True)
    def chatty() -> None:
        ids.append(current_flow_run_id())
        get_run_logger().warning("from the flow")
        print("printed by the flow")
        noisy()

    chatty()
    messages = log_messages(engine_api, ids[0])
    assert {"from the flow", "printed by the flow", "from a task"} <= set(messages)
