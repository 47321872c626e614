"""Group commit: requests queue their validated writes, and a worker commits them together.

Every transaction costs the server a fixed amount of CPU and a durable commit, whatever it
writes. Under load, many requests wait at the same moment; a worker takes everything queued
and applies it in one transaction, so that the cost is paid once per batch. Nothing waits on
purpose: when the server is idle a batch holds one request and answers as fast as before.

Requests that touch the same key (a run) never share a batch nor run in two batches at once:
the later one waits in the queue, in arrival order, until the earlier one is answered. When
a batch fails as a whole, its requests are retried one by one, each in its own transaction,
so that a request can only ever fail with its own error.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Final, Generic, TypeAlias, TypeVar

logger = logging.getLogger(__name__)

W = TypeVar("W")
R = TypeVar("R")


class _Alone:
    """The outcome of a request that the batch left to be applied on its own."""

    def __repr__(self) -> str:
        return "ALONE"


ALONE: Final = _Alone()

BatchOutcome: TypeAlias = R | Exception | _Alone
"""Per request: its answer, its own error, or ALONE (apply it alone after the batch)."""

RunBatch: TypeAlias = Callable[[Sequence[W]], Awaitable[Sequence[BatchOutcome[R]]]]
RunOne: TypeAlias = Callable[[W], Awaitable[R]]
KeyOf: TypeAlias = Callable[[W], Hashable | None]

_Entry: TypeAlias = tuple[W, "asyncio.Future[R]"]


class WriteBatcher(Generic[W, R]):
    """Applies queued work in batches with `run_batch`, or one by one with `run_one`.

    `run_batch` gets the batch in arrival order and returns one outcome per request; it
    commits its own transaction (and publishes what follows from it) before returning. If it
    raises, every request of the batch goes to `run_one`. Workers start with the first
    request, on its event loop; `close` lets them finish what is queued, then ends them.
    """

    def __init__(
        self,
        run_batch: RunBatch[W, R],
        run_one: RunOne[W, R],
        *,
        key: KeyOf[W],
        workers: int = 1,
        max_batch: int = 256,
    ) -> None:
        self._run_batch = run_batch
        self._run_one = run_one
        self._key = key
        self._workers = workers
        self._max_batch = max_batch
        self._queue: deque[_Entry[W, R]] = deque()
        self._busy: set[Hashable] = set()
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    async def submit(self, work: W) -> R:
        """Queues `work` and returns its answer once its batch committed."""
        if self._closed:
            return await self._run_one(work)
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._work(), name=f"write-batcher-{i}")
                for i in range(self._workers)
            ]
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Applies everything queued, then ends the workers."""
        self._closed = True
        self._wakeup.set()
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks)

    async def _work(self) -> None:
        while True:
            batch = self._take()
            if batch:
                await self._apply(batch)
                continue
            if self._closed and not self._queue:
                self._wakeup.set()  # let the other workers see the end too
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    def _take(self) -> list[_Entry[W, R]]:
        """Everything queued whose key is free, up to `max_batch`; the rest stays in order."""
        batch: list[_Entry[W, R]] = []
        left: deque[_Entry[W, R]] = deque()
        queue = self._queue
        while queue:
            entry = queue.popleft()
            if entry[1].done():
                continue  # the caller went away before its work started
            key = self._key(entry[0])
            if len(batch) >= self._max_batch or (key is not None and key in self._busy):
                left.append(entry)
                continue
            if key is not None:
                self._busy.add(key)
            batch.append(entry)
        self._queue = left
        return batch

    async def _apply(self, batch: list[_Entry[W, R]]) -> None:
        try:
            outcomes = await self._outcomes([work for work, _ in batch])
            for (work, future), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, _Alone):
                    await self._apply_one(work, future)
                elif isinstance(outcome, Exception):
                    _settle(future, error=outcome)
                else:
                    _settle(future, result=outcome)
        finally:
            for work, future in batch:
                if not future.done():
                    future.cancel()  # only when this worker itself is cancelled
                key = self._key(work)
                if key is not None:
                    self._busy.discard(key)
            self._wakeup.set()  # work held back behind these keys may go now

    async def _outcomes(self, works: list[W]) -> Sequence[BatchOutcome[R]]:
        try:
            outcomes = await self._run_batch(works)
        except Exception:
            logger.warning(
                "a batch of %d writes failed; applying them one by one", len(works), exc_info=True
            )
            return [ALONE] * len(works)
        if len(outcomes) != len(works):
            raise RuntimeError("a batch must answer every request it was given")
        return outcomes

    async def _apply_one(self, work: W, future: asyncio.Future[R]) -> None:
        if future.done():
            return
        try:
            result = await self._run_one(work)
        except Exception as error:
            _settle(future, error=error)
        else:
            _settle(future, result=result)


def _settle(
    future: asyncio.Future[R], *, result: R | None = None, error: Exception | None = None
) -> None:
    if future.done():
        return  # the caller was cancelled; what was written stays written
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
