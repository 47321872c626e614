"""The worker threads that run an async flow's blocking steps: context, errors, reuse, fork."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading

import pytest

from runplane._engine.off_loop import MAX_WORKERS, off_loop

name: contextvars.ContextVar[str] = contextvars.ContextVar("name", default="unset")


def _step_threads() -> int:
    return sum(t.name == "runplane-engine-step" for t in threading.enumerate())


def test_a_step_sees_the_callers_context_and_returns_its_value() -> None:
    async def main() -> tuple[str, str]:
        name.set("caller")
        return await off_loop(lambda: (name.get(), threading.current_thread().name))

    seen, thread = asyncio.run(main())
    assert seen == "caller"
    assert thread == "runplane-engine-step"


def test_a_steps_error_is_raised_in_the_awaiting_coroutine() -> None:
    def fails() -> None:
        raise LookupError("from the worker")

    async def main() -> None:
        await off_loop(fails)

    with pytest.raises(LookupError, match="from the worker"):
        asyncio.run(main())


def test_a_loop_per_run_reuses_the_threads_workers() -> None:
    async def one() -> int:
        return await off_loop(lambda: 1)

    for _ in range(20):
        assert asyncio.run(one()) == 1
    assert _step_threads() <= MAX_WORKERS
    before = _step_threads()
    for _ in range(20):
        asyncio.run(one())
    assert _step_threads() == before


def test_steps_of_one_loop_run_side_by_side() -> None:
    both = threading.Barrier(2, timeout=10)

    async def main() -> list[int]:
        return await asyncio.gather(off_loop(both.wait), off_loop(both.wait))

    assert sorted(asyncio.run(main())) == [0, 1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_workers_of_its_own() -> None:
    async def pid() -> int:
        return await asyncio.wait_for(off_loop(os.getpid), 10)

    assert asyncio.run(pid()) == os.getpid()  # the parent has workers now
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os._exit(0 if asyncio.run(pid()) == os.getpid() else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
