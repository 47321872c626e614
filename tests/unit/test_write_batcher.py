"""The group-commit batcher: batches, per-key order, per-request errors, fallback and close."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from runplane.server.api.batching import ALONE, BatchOutcome, WriteBatcher

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Work:
    key: str
    value: int


class BadWork(Exception):
    pass


@dataclass
class Store:
    """Applies work to a dict, as a transaction would: all of a batch, or nothing."""

    values: dict[str, list[int]] = field(default_factory=dict)
    batches: list[list[Work]] = field(default_factory=list)
    alone: list[Work] = field(default_factory=list)
    fail_batches: bool = False
    gate: asyncio.Event | None = None

    async def run_batch(self, works: Sequence[Work]) -> list[BatchOutcome[int]]:
        if self.gate is not None:
            await self.gate.wait()
        self.batches.append(list(works))
        if self.fail_batches:
            raise RuntimeError("the transaction failed")
        outcomes: list[BatchOutcome[int]] = []
        for work in works:
            if work.value < 0:
                outcomes.append(BadWork(work.key))
            elif work.value == 0:
                outcomes.append(ALONE)
            else:
                outcomes.append(self._apply(work))
        return outcomes

    async def run_one(self, work: Work) -> int:
        self.alone.append(work)
        if work.value < 0:
            raise BadWork(work.key)
        return self._apply(work)

    def _apply(self, work: Work) -> int:
        self.values.setdefault(work.key, []).append(work.value)
        return len(self.values[work.key])


def batcher(store: Store, workers: int = 1, max_batch: int = 256) -> WriteBatcher[Work, int]:
    return WriteBatcher(
        store.run_batch,
        store.run_one,
        key=lambda work: work.key,
        workers=workers,
        max_batch=max_batch,
    )


async def test_everything_queued_goes_in_one_batch() -> None:
    store = Store(gate=asyncio.Event())
    writes = batcher(store)
    first = asyncio.ensure_future(writes.submit(Work("a", 1)))
    await asyncio.sleep(0)  # the worker takes the first work and waits on the gate
    rest = [asyncio.ensure_future(writes.submit(Work(f"k{i}", 1))) for i in range(50)]
    store.gate.set()  # type: ignore[union-attr]
    assert await asyncio.gather(first, *rest) == [1] * 51
    assert [len(batch) for batch in store.batches] == [1, 50]
    await writes.close()


async def test_batch_size_is_capped() -> None:
    store = Store(gate=asyncio.Event())
    writes = batcher(store, max_batch=8)
    pending = [asyncio.ensure_future(writes.submit(Work(f"k{i}", 1))) for i in range(20)]
    await asyncio.sleep(0)
    store.gate.set()  # type: ignore[union-attr]
    await asyncio.gather(*pending)
    assert [len(batch) for batch in store.batches] == [8, 8, 4]
    await writes.close()


async def test_work_on_one_key_is_applied_in_arrival_order_one_per_batch() -> None:
    store = Store()
    writes = batcher(store, workers=2)
    results = await asyncio.gather(*(writes.submit(Work("same", v)) for v in range(1, 6)))
    assert results == [1, 2, 3, 4, 5]
    assert store.values["same"] == [1, 2, 3, 4, 5]
    assert all(len(batch) == 1 for batch in store.batches)
    await writes.close()


async def test_a_bad_request_fails_alone() -> None:
    store = Store()
    writes = batcher(store)
    results = await asyncio.gather(
        writes.submit(Work("a", 1)),
        writes.submit(Work("bad", -1)),
        writes.submit(Work("b", 1)),
        return_exceptions=True,
    )
    assert results[0] == 1
    assert results[2] == 1
    assert isinstance(results[1], BadWork)
    assert store.alone == []
    await writes.close()


async def test_work_the_batch_leaves_alone_is_applied_after_it() -> None:
    store = Store()
    writes = batcher(store)
    assert await asyncio.gather(writes.submit(Work("a", 0)), writes.submit(Work("b", 2))) == [
        1,
        1,
    ]
    assert store.alone == [Work("a", 0)]
    await writes.close()


async def test_a_failed_batch_is_retried_one_by_one() -> None:
    store = Store(fail_batches=True)
    writes = batcher(store)
    results = await asyncio.gather(
        writes.submit(Work("a", 1)), writes.submit(Work("bad", -1)), return_exceptions=True
    )
    assert results[0] == 1
    assert isinstance(results[1], BadWork)
    assert store.alone == [Work("a", 1), Work("bad", -1)]
    await writes.close()


async def test_close_applies_queued_work_then_ends_the_workers() -> None:
    store = Store(gate=asyncio.Event())
    writes = batcher(store, workers=2)
    pending = [asyncio.ensure_future(writes.submit(Work("k", v))) for v in range(1, 4)]
    pending += [asyncio.ensure_future(writes.submit(Work(f"o{i}", 1))) for i in range(10)]
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(writes.close())
    await asyncio.sleep(0)
    assert not closing.done()
    store.gate.set()  # type: ignore[union-attr]
    await closing
    assert all(task.done() for task in pending)
    assert store.values["k"] == [1, 2, 3]
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("write-batcher")]


async def test_after_close_work_is_applied_directly() -> None:
    store = Store()
    writes = batcher(store)
    await writes.close()
    assert await writes.submit(Work("late", 1)) == 1
    assert store.batches == []
    assert store.alone == [Work("late", 1)]


async def test_a_cancelled_caller_does_not_stop_the_others() -> None:
    store = Store(gate=asyncio.Event())
    writes = batcher(store)
    first = asyncio.ensure_future(writes.submit(Work("a", 1)))
    await asyncio.sleep(0)
    gone = asyncio.ensure_future(writes.submit(Work("gone", 1)))
    kept = asyncio.ensure_future(writes.submit(Work("kept", 1)))
    await asyncio.sleep(0)
    gone.cancel()
    store.gate.set()  # type: ignore[union-attr]
    assert await first == 1
    assert await kept == 1
    assert "gone" not in store.values  # it had not started: it is dropped
    await writes.close()
