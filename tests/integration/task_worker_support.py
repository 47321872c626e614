"""A task worker on a thread of its own, for tests that call ``Task.delay`` synchronously."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from runplane import TaskWorker


@contextmanager
def worker_thread(*tasks: Any, limit: int = 4) -> Iterator[TaskWorker]:
    """Runs a task worker for ``tasks`` until the block ends; yields once it is subscribed."""
    worker = TaskWorker(tasks, limit=limit)
    loop = asyncio.new_event_loop()
    subscribed = threading.Event()
    running: list[asyncio.Task[None]] = []

    async def serve() -> None:
        task = asyncio.create_task(worker.run())
        running.append(task)
        waiter = asyncio.create_task(worker.subscribed.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        subscribed.set()
        waiter.cancel()
        with suppress(asyncio.CancelledError):
            await task

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert subscribed.wait(60), "the task worker did not subscribe"
        assert running, "the task worker did not start"
        assert not running[0].done(), "the task worker stopped"
        yield worker
    finally:
        loop.call_soon_threadsafe(lambda: [task.cancel() for task in running])
        thread.join(20)
        loop.close()
