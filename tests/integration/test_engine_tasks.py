"""Tasks through a real server: retries, timeouts, caching, futures, runners, upstream failures."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from engine_support import engine_api, state_names, task_runs, wait_until

from runplane import (
    INPUTS,
    ProcessPoolTaskRunner,
    StateType,
    SyncRunplaneClient,
    TimedOut,
    UpstreamFailed,
    as_completed,
    exponential_backoff,
    flow,
    task,
    unmapped,
    wait,
)
from runplane._runtime.context import flow_run_context

__all__ = ["engine_api"]


def current_flow_run_id() -> uuid.UUID:
    context = flow_run_context.get()
    assert context is not None
    return context.flow_run_id


def test_task_retries_wait_between_attempts(engine_api: SyncRunplaneClient) -> None:
    attempts: list[int] = []
    ids: list[uuid.UUID] = []

    @task(retries=3, retry_delay_seconds=exponential_backoff(0.01))
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return len(attempts)

    @flow
    def run() -> int:
        ids.append(current_flow_run_id())
        return flaky()

    assert run() == 3
    (recorded,) = task_runs(engine_api, ids[0])
    assert recorded.run_count == 3
    assert state_names(engine_api, recorded.id) == [
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


def test_a_task_out_of_retries_fails_the_flow(engine_api: SyncRunplaneClient) -> None:
    @task(retries=1, retry_delay_seconds=[0.01])
    def broken() -> None:
        raise ValueError("always")

    @flow
    def run() -> None:
        broken()

    state = run(return_state=True)
    assert state.type is StateType.FAILED
    assert "ValueError: always" in state.message


def test_a_task_over_its_timeout_is_timed_out(engine_api: SyncRunplaneClient) -> None:
    release = threading.Event()

    @task(timeout_seconds=0.1)
    def stuck() -> None:
        while not release.wait(0.01):
            pass

    @flow
    def run() -> tuple[str, str]:
        inline = stuck(return_state=True)
        submitted = stuck.submit()
        submitted.wait()
        return inline.name, submitted.state.name

    assert run() == ("TimedOut", "TimedOut")

    @flow
    def direct() -> None:
        stuck()

    with pytest.raises(TimedOut):
        direct()
    release.set()


def test_a_cache_hit_skips_the_function(engine_api: SyncRunplaneClient) -> None:
    calls: list[int] = []
    ids: list[uuid.UUID] = []

    @task(cache_policy=INPUTS)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    @flow
    def run() -> list[int]:
        ids.append(current_flow_run_id())
        return [square(3), square(3), square(4)]

    assert run() == [9, 9, 16]
    assert run() == [9, 9, 16]  # another flow run reuses the cached results
    assert calls == [3, 4]
    names = [r.state.name for r in task_runs(engine_api, ids[1]) if r.state]
    assert names == ["Cached", "Cached", "Cached"]


def test_a_cache_key_function_and_expiry(engine_api: SyncRunplaneClient) -> None:
    calls: list[str] = []
    key = uuid.uuid4().hex

    expiration = timedelta(seconds=1)

    @task(cache_key_fn=lambda context, parameters: key, cache_expiration=expiration)
    def fetch(tag: str) -> str:
        calls.append(tag)
        return tag

    @flow
    def run(tag: str) -> str:
        return fetch(tag)

    assert run("first") == "first"
    # The entry expires at most ``expiration`` after the first run returned.
    stored_by = datetime.now(UTC)
    assert run("second") == "first"  # same key, not expired: the stored result
    wait_until(lambda: datetime.now(UTC) > stored_by + expiration)
    assert run("third") == "third"
    assert calls == ["first", "third"]


def test_the_server_finds_cached_results_of_another_process(
    engine_api: SyncRunplaneClient,
) -> None:
    from runplane._engine.client import engine_client

    key = uuid.uuid4().hex
    calls: list[int] = []

    @task(cache_key_fn=lambda context, parameters: key)
    def compute() -> int:
        calls.append(1)
        return 42

    @flow
    def run() -> int:
        return compute()

    assert run() == 42
    engine_client().cached_results.clear()  # as if another process asked
    assert run() == 42
    assert calls == [1]
    cached = engine_api.lookup_cached_state(key)
    assert cached is not None


def test_futures_map_and_upstream_failures(engine_api: SyncRunplaneClient) -> None:
    ids: list[uuid.UUID] = []

    @task
    def add(x: int, y: int) -> int:
        return x + y

    @task
    def explode(x: int) -> int:
        raise RuntimeError(f"bad {x}")

    @flow
    def run() -> dict[str, Any]:
        ids.append(current_flow_run_id())
        mapped = add.map([1, 2, 3], unmapped(10))
        chained = add.submit(mapped[0], mapped[1])
        failing = explode.submit(1)
        downstream = add.submit(failing, 1)
        done, not_done = wait([*mapped, chained, failing, downstream])
        order = {f.task_run_id for f in as_completed(mapped)}
        return {
            "mapped": [f.result() for f in mapped],
            "chained": chained.result(),
            "downstream": downstream.state.name,
            "error": downstream.result(raise_on_failure=False),
            "all_done": not not_done and len(done) == 6,
            "order": order == {f.task_run_id for f in mapped},
        }

    out = run(return_state=True)
    assert out.type is StateType.COMPLETED  # unreturned failed futures do not fail the flow
    value = out.result()
    assert value["mapped"] == [11, 12, 13]
    assert value["chained"] == 23
    assert value["downstream"] == "NotReady"
    assert value["all_done"]
    assert value["order"]
    assert isinstance(value["error"], UpstreamFailed)
    recorded = {r.name: r for r in task_runs(engine_api, ids[0])}
    assert len(recorded) == 6
    with_inputs = sorted(sorted(r.inputs) for r in recorded.values() if r.inputs)
    assert with_inputs == [["x"], ["x", "y"]]  # downstream <- failing; chained <- two mapped


def test_returning_a_failed_future_fails_the_flow(engine_api: SyncRunplaneClient) -> None:
    @task
    def explode() -> None:
        raise RuntimeError("nope")

    @flow
    def run() -> Any:
        return explode.submit()

    with pytest.raises(RuntimeError, match="nope"):
        run()


def test_the_process_pool_runs_task_functions_elsewhere(engine_api: SyncRunplaneClient) -> None:
    import os

    @task
    def pid(x: int) -> tuple[int, int]:
        return x, os.getpid()

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def run() -> list[tuple[int, int]]:
        return [f.result() for f in pid.map([1, 2, 3])]

    results = run()
    assert [x for x, _ in results] == [1, 2, 3]
    assert all(worker != os.getpid() for _, worker in results)


def test_many_submitted_tasks_are_all_recorded(engine_api: SyncRunplaneClient) -> None:
    ids: list[uuid.UUID] = []

    @task
    def noop(i: int) -> int:
        return i

    @flow
    def run() -> int:
        ids.append(current_flow_run_id())
        return sum(f.result() for f in noop.map(range(300)))

    assert run() == sum(range(300))
    recorded = task_runs(engine_api, ids[0])
    assert len(recorded) == 300
    assert all(r.state is not None and r.state.name == "Completed" for r in recorded)
