"""Tag concurrency limits on task runs, through a real server.

The tasks that must not overlap hold themselves open until the test lets them go, one at
a time, through files (which also cross into process-pool workers): the test sees which
tasks are inside their function, and the server sees the others wait.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_support import engine_api, state_names, task_runs, wait_until

from runplane import (
    ProcessPoolTaskRunner,
    StateType,
    SyncRunplaneClient,
    ThreadPoolTaskRunner,
    flow,
    get_run_context,
    task,
)
from runplane._engine import tag_limits, task_slots

__all__ = ["engine_api"]

GATE_TIMEOUT = 60.0


def unique_tag(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def active_slots(client: SyncRunplaneClient, tag: str) -> int:
    return client.get_concurrency_limit(f"tag:{tag}").active_slots


def pass_gate(folder: str, index: int) -> tuple[float, float]:
    """Marks task ``index`` inside, waits until the test opens its gate; (start, end)."""
    start = time.monotonic()
    (Path(folder) / f"inside-{index}").touch()
    gate = Path(folder) / f"go-{index}"
    deadline = start + GATE_TIMEOUT
    while not gate.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gate of task {index} never opened")
        time.sleep(0.005)
    return start, time.monotonic()


def inside(folder: Path) -> set[int]:
    return {int(path.name.split("-")[1]) for path in folder.glob("inside-*")}


def in_background(call: Callable[[], Any]) -> concurrent.futures.Future[Any]:
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future


def let_through_one_at_a_time(
    client: SyncRunplaneClient, folder: Path, ids: list[uuid.UUID], count: int
) -> None:
    """Opens the gates one by one, checking that one task is inside while the rest wait."""
    opened: set[int] = set()

    def one_inside_the_rest_waiting() -> bool:
        now_inside = inside(folder) - opened
        assert len(now_inside) <= 1, f"tasks {sorted(now_inside)} run at the same time"
        if len(now_inside) != 1 or not ids:
            return False
        runs = task_runs(client, ids[0])
        waiting = [r for r in runs if r.state and r.state.name == "AwaitingConcurrencySlot"]
        return len(runs) == count and len(waiting) == count - len(opened) - 1

    for _ in range(count):
        wait_until(one_inside_the_rest_waiting, timeout=GATE_TIMEOUT)
        (entered,) = inside(folder) - opened
        opened.add(entered)
        (folder / f"go-{entered}").touch()


def assert_no_overlap(spans: list[tuple[float, float]]) -> None:
    ordered = sorted(spans)
    for (_, end), (start, _) in itertools.pairwise(ordered):
        assert end <= start, f"task runs overlapped: {ordered}"


@pytest.mark.parametrize("kind", ["sync", "async", "process pool"])
def test_a_limit_of_one_runs_tagged_tasks_one_at_a_time(
    engine_api: SyncRunplaneClient, tmp_path: Path, kind: str
) -> None:
    tag = unique_tag("db")
    engine_api.create_concurrency_limit(f"tag:{tag}", 1)
    folder = str(tmp_path)
    ids: list[uuid.UUID] = []

    @task(tags=[tag])
    def guarded(index: int) -> tuple[float, float]:
        return pass_gate(folder, index)

    @task(tags=[tag])
    async def guarded_async(index: int) -> tuple[float, float]:
        return await asyncio.to_thread(pass_gate, folder, index)

    runner = ProcessPoolTaskRunner(4) if kind == "process pool" else ThreadPoolTaskRunner(4)
    chosen = guarded_async if kind == "async" else guarded

    @flow(task_runner=runner)
    def four() -> list[tuple[float, float]]:
        ids.append(get_run_context().flow_run.id)
        return [future.result() for future in chosen.map(range(4))]

    running = in_background(four)
    try:
        let_through_one_at_a_time(engine_api, tmp_path, ids, 4)
    finally:
        for index in range(4):
            (tmp_path / f"go-{index}").touch()
    spans = running.result(timeout=GATE_TIMEOUT)

    assert_no_overlap(spans)
    assert active_slots(engine_api, tag) == 0
    runs = task_runs(engine_api, ids[0])
    assert sorted(state_names(engine_api, r.id) for r in runs) == [
        ["Pending", "AwaitingConcurrencySlot", "Running", "Completed"],
        ["Pending", "AwaitingConcurrencySlot", "Running", "Completed"],
        ["Pending", "AwaitingConcurrencySlot", "Running", "Completed"],
        ["Pending", "Running", "Completed"],
    ]


def test_a_task_that_fails_gives_its_slot_back(engine_api: SyncRunplaneClient) -> None:
    tag = unique_tag("db")
    engine_api.create_concurrency_limit(f"tag:{tag}", 1)
    release = threading.Event()

    @task(tags=[tag])
    def explode() -> None:
        raise RuntimeError("boom")

    @task(tags=[tag], timeout_seconds=0.1)
    def too_slow() -> None:
        while not release.wait(0.01):
            pass

    @task(tags=[tag])
    def holding() -> int:
        return active_slots(engine_api, tag)

    @flow
    def run() -> list[Any]:
        raised = explode(return_state=True).name
        timed_out = too_slow.submit()
        timed_out.wait()
        left_held = active_slots(engine_api, tag)
        return [raised, timed_out.state.name, left_held, holding(), holding.submit().result()]

    try:
        assert run() == ["Failed", "TimedOut", 0, 1, 1]
    finally:
        release.set()
    assert active_slots(engine_api, tag) == 0


def test_tasks_whose_tags_have_no_limit_run_together(engine_api: SyncRunplaneClient) -> None:
    limited, free = unique_tag("db"), unique_tag("free")
    engine_api.create_concurrency_limit(f"tag:{limited}", 1)
    together = threading.Barrier(3, timeout=GATE_TIMEOUT)
    ids: list[uuid.UUID] = []

    @task(tags=[free])
    def meet(index: int) -> int:
        together.wait()  # breaks, failing the task, unless all three run at once
        return index

    @flow
    def run() -> list[int]:
        ids.append(get_run_context().flow_run.id)
        return [future.result() for future in meet.map(range(3))]

    assert run() == [0, 1, 2]
    histories = [state_names(engine_api, r.id) for r in task_runs(engine_api, ids[0])]
    assert histories == [["Pending", "Running", "Completed"]] * 3


def test_a_limit_of_zero_fails_the_task_without_calling_it(
    engine_api: SyncRunplaneClient,
) -> None:
    tag = unique_tag("db")
    engine_api.create_concurrency_limit(f"tag:{tag}", 0)
    calls: list[int] = []
    ids: list[uuid.UUID] = []

    @task(tags=[tag], retries=2, retry_delay_seconds=0)
    def never() -> None:
        calls.append(1)

    @flow
    def run() -> list[tuple[StateType, str]]:
        ids.append(get_run_context().flow_run.id)
        direct = never(return_state=True)
        submitted = never.submit()
        submitted.wait()
        return [(state.type, state.message) for state in (direct, submitted.state)]

    ended = run()
    assert calls == []
    for state_type, message in ended:
        assert state_type is StateType.FAILED
        assert f"the concurrency limit tag:{tag} is 0" in message
    runs = task_runs(engine_api, ids[0])
    assert sorted(state_names(engine_api, r.id) for r in runs) == [
        ["Failed"],
        ["Pending", "Failed"],
    ]
    assert all(r.run_count == 0 for r in runs)


def test_each_flow_run_sees_the_limits_created_before_it(engine_api: SyncRunplaneClient) -> None:
    tag = unique_tag("db")

    @task(tags=[tag])
    def step() -> str:
        return "ran"

    @flow
    def once() -> str:
        return step(return_state=True).name

    assert once() == "Completed"
    engine_api.create_concurrency_limit(f"tag:{tag}", 0)
    assert once() == "Failed"  # well within REFRESH_SECONDS of the first listing


def test_a_limit_created_while_a_flow_runs_takes_effect(
    engine_api: SyncRunplaneClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tag_limits, "REFRESH_SECONDS", 0.0)  # instead of waiting 5 s
    tag = unique_tag("db")

    @task(tags=[tag])
    def step() -> str:
        return "ran"

    @flow
    def run() -> list[str]:
        before = step(return_state=True).name
        engine_api.create_concurrency_limit(f"tag:{tag}", 0)
        return [before, step(return_state=True).name]

    assert run() == ["Completed", "Failed"]


def test_a_running_task_renews_its_lease(
    engine_api: SyncRunplaneClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(task_slots, "LEASE_SECONDS", 0.8)
    tag = unique_tag("db")
    engine_api.create_concurrency_limit(f"tag:{tag}", 1)

    @task(tags=[tag])
    def long_running() -> int:
        started = time.monotonic()
        # Time passing is the point: twice as long as a lease, which must be renewed.
        wait_until(lambda: time.monotonic() > started + 2 * task_slots.LEASE_SECONDS)
        return active_slots(engine_api, tag)  # 0 had the lease expired

    @flow
    def run() -> int:
        return long_running()

    assert run() == 1
    assert active_slots(engine_api, tag) == 0
