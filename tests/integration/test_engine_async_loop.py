"""An async flow leaves its event loop free: other coroutines keep running beside it.

The flow below makes every kind of engine step happen: a WAIT answer (its run is scheduled
a little in the future), 100 uncached task runs (some retried), 100 cached ones looked up
on the server, and a task run that waits for a slow upstream future. A coroutine ticks
beside it; no blocking client call may run on the loop's thread, and no tick may be late
by more than a fraction of what a blocking step costs (the WAIT alone is over a second).
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from engine_support import engine_api, task_runs

from runplane import StateType, SyncRunplaneClient, flow, task
from runplane._engine.client import engine_client
from runplane._engine.flow_calls import run_flow_async
from runplane._engine.states import make_state

__all__ = ["engine_api"]

UNCACHED = 100
CACHED = 100
WAIT_SECONDS = 2.0
"""How far in the future the run is scheduled: the server answers WAIT until then."""
SLOW_UPSTREAM_SECONDS = 1.0
MAX_TICK_GAP = 0.5
"""Generous for a loaded machine, and well under each blocking step the flow makes."""


def _blocking_calls_on(
    monkeypatch: pytest.MonkeyPatch, threads: set[int]
) -> Callable[[], list[str]]:
    """Records the blocking client calls made on any of ``threads``."""
    seen: list[str] = []
    original = SyncRunplaneClient._call

    def call(self: SyncRunplaneClient, make: Callable[..., Coroutine[Any, Any, Any]]) -> Any:
        if threading.get_ident() in threads:
            caller = traceback.extract_stack(limit=4)[0]  # what made the blocking call
            seen.append(f"{caller.name} ({caller.filename}:{caller.lineno})")
        return original(self, make)

    monkeypatch.setattr(SyncRunplaneClient, "_call", call)
    return lambda: seen


async def _tick(stop: asyncio.Event, gaps: list[float]) -> None:
    """Sleeps 5 ms at a time until ``stop``, noting how late each wake-up was."""
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(0.005)
        gaps.append(time.monotonic() - before - 0.005)


def test_an_async_flow_never_blocks_its_event_loop(
    engine_api: SyncRunplaneClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = uuid.uuid4().hex
    attempts: dict[int, int] = {}

    @task(retries=1, retry_delay_seconds=0)
    async def uncached(i: int) -> int:
        attempts[i] = attempts.get(i, 0) + 1
        if i % 10 == 0 and attempts[i] == 1:
            raise ValueError(f"first attempt of {i}")
        return i

    @task(cache_key_fn=lambda context, parameters: f"{prefix}-{parameters['i']}")
    async def cached(i: int) -> int:
        return i * 2

    @task
    def slow() -> int:
        time.sleep(SLOW_UPSTREAM_SECONDS)
        return 7

    @task
    async def after(value: int) -> int:
        return value + 1

    @flow
    async def busy() -> int:
        total = 0
        for i in range(UNCACHED):
            total += await uncached(i)
        for i in range(CACHED):
            total += await cached(i)
        return total + await after(slow.submit())

    expected = sum(range(UNCACHED)) + 2 * sum(range(CACHED)) + 8
    # Warm up: the client opens, the flow registers, the cached results are written.
    assert asyncio.run(busy()) == expected
    engine_client().cached_results.clear()  # this run's lookups go to the server
    attempts.clear()
    scheduled = make_state(
        StateType.SCHEDULED, scheduled_time=datetime.now(UTC) + timedelta(seconds=WAIT_SECONDS)
    )
    run = engine_api.create_flow_run(engine_client().flow_id(busy.name), state=scheduled)

    async def beside() -> tuple[Any, list[float], list[str]]:
        blocking = _blocking_calls_on(monkeypatch, {threading.get_ident()})
        stop, gaps = asyncio.Event(), []
        ticker = asyncio.create_task(_tick(stop, gaps))
        try:
            state = await run_flow_async(busy, (), {}, True, run)
        finally:
            stop.set()
            await ticker
        return state, gaps, list(blocking())  # the calls made while the flow ran

    state, gaps, blocking = asyncio.run(beside())

    assert state.type is StateType.COMPLETED
    assert state.result() == expected
    names = [state.name for state in engine_api.list_flow_run_states(run.id, page_size=50)]
    assert names[:3] == ["Scheduled", "Pending", "Running"]  # the WAIT was obeyed
    recorded = task_runs(engine_api, run.id)
    assert sum(r.state is not None and r.state.name == "Cached" for r in recorded) == CACHED
    assert attempts[0] == 2  # retried
    assert blocking == []
    assert max(gaps) < MAX_TICK_GAP, f"the loop stalled {max(gaps):.3f} s"
