"""``Task.delay`` sends a run to a task worker and its future returns the worker's result;
a task called outside any flow is a task run of its own. On the embedded default and on a
server of each database."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from engine_support import any_engine_api
from task_worker_support import worker_thread

from runplane import (
    LogFilter,
    State,
    StateType,
    SyncRunplaneClient,
    TaskRun,
    TaskRunFilter,
    get_run_logger,
    runtime,
    task,
)
from runplane._engine.client import engine_client

__all__ = ["any_engine_api"]


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def explode(message: str) -> None:
    raise ValueError(message)


@task
def pair_sum(pair: tuple[int, int], scale: float = 1.0) -> float:
    return (pair[0] + pair[1]) * scale


@task
async def shout(word: str) -> str:
    return word.upper()


@task(log_prints=True)
def chatty(name: str) -> str:
    get_run_logger().info("hello %s", name)
    print(f"printed for {name}")
    return str(runtime.task_run.id)


@task(timeout_seconds=0.5)
def spin_forever() -> None:
    while True:
        pass


@task(timeout_seconds=0.5)
async def wait_forever() -> None:
    await asyncio.Event().wait()


HOOKED: list[tuple[str, object, StateType]] = []
HOOK_CALLED = threading.Semaphore(0)


def _record(name: str) -> Any:
    def hook(task: Any, task_run: TaskRun, state: State) -> None:
        HOOKED.append((name, task_run.id, state.type))
        HOOK_CALLED.release()

    return hook


@task(on_completion=[_record("completion")], on_failure=[_record("failure")])
def maybe_explode(fail: bool) -> str:
    if fail:
        raise ValueError("asked to")
    return "fine"


def _messages(client: SyncRunplaneClient, task_run_id: object) -> list[str]:
    engine_client().log_shipper().flush(10)
    return [r.message for r in client.list_logs(LogFilter(task_run_id=task_run_id))]


def test_delay_returns_the_workers_result(any_engine_api: SyncRunplaneClient) -> None:
    with worker_thread(add, explode, pair_sum, shout):
        future = add.delay(1, 2)
        assert future.result(timeout=30) == 3
        assert add.apply_async(args=(5,), kwargs={"y": 6}).result(timeout=30) == 11
        # A tuple does not survive JSON: the arguments go by a result reference instead.
        assert pair_sum.delay((2, 3), scale=2.0).result(timeout=30) == 10.0
        assert shout.delay("hi").result(timeout=30) == "HI"
        failed = explode.delay("boom")
        with pytest.raises(ValueError, match="boom"):
            failed.result(timeout=30)
        assert failed.state.type is StateType.FAILED

    run = any_engine_api.get_task_run(future.task_run_id)
    assert run.flow_run_id is None
    assert run.background
    assert run.parameters == {"x": 1, "y": 2}
    assert run.state is not None
    assert run.state.type is StateType.COMPLETED
    names = [s.name for s in any_engine_api.list_task_run_states(future.task_run_id)]
    assert names == ["Scheduled", "Pending", "Running", "Completed"]


def test_a_task_called_outside_a_flow_is_a_task_run_of_its_own(
    any_engine_api: SyncRunplaneClient,
) -> None:
    tag = f"standalone-{uuid.uuid4().hex[:8]}"
    tagged = add.with_options(tags=[tag])
    assert tagged(2, 3) == 5
    state = tagged.call_with_state(4, 4)
    assert state.type is StateType.COMPLETED
    assert state.result() == 8
    with pytest.raises(ValueError, match="alone"):
        explode("alone")
    runs = [
        r
        for r in any_engine_api.list_task_runs(TaskRunFilter(task_key=add.task_key), page_size=200)
        if tag in r.tags
    ]
    assert len(runs) == 2
    assert all(r.flow_run_id is None and not r.background for r in runs)
    assert {r.state.type for r in runs if r.state} == {StateType.COMPLETED}


def test_background_and_standalone_runs_keep_their_logs(
    any_engine_api: SyncRunplaneClient,
) -> None:
    with worker_thread(chatty):
        future = chatty.delay("ana")
        assert future.result(timeout=30) == str(future.task_run_id)
    assert _messages(any_engine_api, future.task_run_id) == ["hello ana", "printed for ana"]
    own_run_id = chatty("bo")
    assert _messages(any_engine_api, own_run_id) == ["hello bo", "printed for bo"]


def test_a_background_run_times_out_as_an_inline_one_does(
    any_engine_api: SyncRunplaneClient,
) -> None:
    with worker_thread(spin_forever, wait_forever):
        futures = [spin_forever.delay(), wait_forever.delay()]
        for future in futures:
            with pytest.raises(TimeoutError, match=r"timed out after 0\.5 seconds"):
                future.result(timeout=30)
            assert future.state.type is StateType.FAILED
            assert future.state.message == "TimedOut: timed out after 0.5 seconds"


def test_a_background_runs_hooks_are_called_once_its_state_is_recorded(
    any_engine_api: SyncRunplaneClient,
) -> None:
    HOOKED.clear()
    with worker_thread(maybe_explode):
        fine, failed = maybe_explode.delay(False), maybe_explode.delay(True)
        assert fine.result(timeout=30) == "fine"
        with pytest.raises(ValueError, match="asked to"):
            failed.result(timeout=30)
        # The worker calls them after recording the state that the futures above saw.
        assert HOOK_CALLED.acquire(timeout=30)
        assert HOOK_CALLED.acquire(timeout=30)
    assert sorted(HOOKED, key=lambda entry: entry[0]) == [
        ("completion", fine.task_run_id, StateType.COMPLETED),
        ("failure", failed.task_run_id, StateType.FAILED),
    ]
