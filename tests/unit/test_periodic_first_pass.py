"""A loop's first pass waits a moment after the server starts, then passes come each interval."""

from __future__ import annotations

import asyncio

import pytest

from runplane.server.loops import periodic

pytestmark = pytest.mark.anyio


async def _first_pass_after(seconds: float) -> float:
    loop = asyncio.get_running_loop()
    passed = asyncio.Event()

    async def step() -> None:
        passed.set()

    started = loop.time()
    task = asyncio.create_task(periodic.every(seconds, "test", step))
    try:
        async with asyncio.timeout(5):
            await passed.wait()
        return loop.time() - started
    finally:
        task.cancel()


async def test_the_first_pass_waits_the_start_delay_when_the_interval_is_longer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(periodic, "FIRST_PASS_DELAY", 0.1)
    assert 0.1 <= await _first_pass_after(3600) < 2


async def test_the_first_pass_waits_one_interval_when_it_is_shorter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(periodic, "FIRST_PASS_DELAY", 3600)
    assert 0.05 <= await _first_pass_after(0.05) < 2
