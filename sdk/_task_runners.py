"""Task runners: where submitted task runs execute.

A task runner has two jobs, which is the whole interface:

- ``submit(run)`` starts ``run`` (a no-argument callable that orchestrates one task run
  and returns how it ended) concurrently and returns a ``concurrent.futures.Future``.
  The engine copies the run context into ``run`` already.
- ``call(fn, args, kwargs)`` calls the task's own function and returns its value (or
  raises its exception). The thread pool calls it in place; the process pool ships it
  to a worker process. A runner for a cluster implements the same two methods.

Each flow run gets its own runner from ``duplicate()``; the engine calls ``start()``
before the first submission and ``shutdown()`` when the flow run ends.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import multiprocessing.connection
    import multiprocessing.context

R = TypeVar("R")


class TaskRunner:
    """Runs submitted task runs; subclass and override ``submit`` (and ``call``)."""

    def duplicate(self) -> TaskRunner:
        """A fresh, unstarted runner with the same settings."""
        return type(self)()

    def start(self) -> None:
        """Acquires resources (pools, connections); called once before ``submit``."""

    def shutdown(self) -> None:
        """Waits for submitted runs and releases resources."""

    def submit(self, run: Callable[[], R]) -> concurrent.futures.Future[R]:
        raise NotImplementedError

    def call(self, fn: Callable[..., R], args: Sequence[Any], kwargs: Mapping[str, Any]) -> R:
        """Calls a task's function; the default calls it in the current thread."""
        return fn(*args, **kwargs)


class ThreadPoolTaskRunner(TaskRunner):
    """Runs submitted task runs on a pool of threads (the default)."""

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"ThreadPoolTaskRunner(max_workers={self.max_workers})"

    def duplicate(self) -> ThreadPoolTaskRunner:
        return ThreadPoolTaskRunner(self.max_workers)

    def start(self) -> None:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self.max_workers, thread_name_prefix="runplane-task"
            )

    def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def submit(self, run: Callable[[], R]) -> concurrent.futures.Future[R]:
        if self._pool is None:
            self.start()
        assert self._pool is not None
        return self._pool.submit(run)


_WAIT_SLICE_SECONDS = 0.05
"""How long a wait on a worker blocks at a time: a task's timeout arrives as an exception
raised in the waiting thread, which cannot interrupt one long blocking wait."""


class ProcessPoolTaskRunner(ThreadPoolTaskRunner):
    """Orchestrates task runs on threads, and calls their functions in worker processes.

    Functions, arguments, return values and exceptions travel with cloudpickle; see
    ``runplane._process_calls``. A task with ``timeout_seconds`` is called in a process of
    its own, which is ended when the timeout passes, whatever the function is doing. The
    run context (``get_run_logger``) is not available inside the worker processes.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(max_workers or os.cpu_count() or 1)
        self._processes: concurrent.futures.ProcessPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"ProcessPoolTaskRunner(max_workers={self.max_workers})"

    def duplicate(self) -> ProcessPoolTaskRunner:
        return ProcessPoolTaskRunner(self.max_workers)

    def start(self) -> None:
        super().start()
        if self._processes is None:
            self._processes = concurrent.futures.ProcessPoolExecutor(
                self.max_workers, mp_context=_spawn()
            )

    def shutdown(self) -> None:
        super().shutdown()
        processes, self._processes = self._processes, None
        if processes is not None:
            processes.shutdown(wait=True)

    def call(self, fn: Callable[..., R], args: Sequence[Any], kwargs: Mapping[str, Any]) -> R:
        import cloudpickle

        from runplane._process_calls import unpack

        payload = cloudpickle.dumps((fn, tuple(args), dict(kwargs)))
        answer = _call_in_own_process(payload) if _timed() else self._call_in_pool(payload)
        result: R = unpack(answer)
        return result

    def _call_in_pool(self, payload: bytes) -> bytes:
        from runplane._process_calls import call_pickled

        if self._processes is None:
            self.start()
        assert self._processes is not None
        future = self._processes.submit(call_pickled, payload)
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        while not done.wait(_WAIT_SLICE_SECONDS):
            pass
        return future.result()


def _spawn() -> multiprocessing.context.SpawnContext:
    # spawn: forking a process that runs gRPC threads is unsafe. Imported here: a flow on
    # the thread pool, the default, starts no process.
    import multiprocessing

    return multiprocessing.get_context("spawn")


def _timed() -> bool:
    """Whether the task run calling here has a timeout (the engine enforces it in this
    thread by raising ``TimedOut``, which ``_call_in_own_process`` answers by ending the
    process)."""
    from runplane._runtime.context import task_run_context

    context = task_run_context.get()
    return context is not None and getattr(context.task, "timeout_seconds", None) is not None


def _answer_into(connection: multiprocessing.connection.Connection, payload: bytes) -> None:
    from runplane._process_calls import call_pickled

    connection.send_bytes(call_pickled(payload))


def _call_in_own_process(payload: bytes) -> bytes:
    """Calls in a new worker process; a timeout (or any interrupt) of this thread ends it."""
    receiving, sending = _spawn().Pipe(duplex=False)
    process = _spawn().Process(target=_answer_into, args=(sending, payload), daemon=True)
    process.start()
    sending.close()
    try:
        while not receiving.poll(_WAIT_SLICE_SECONDS):
            if not process.is_alive() and not receiving.poll(0):
                raise RuntimeError(f"the worker process ended with exit code {process.exitcode}")
        return receiving.recv_bytes()
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receiving.close()
        process.close()
