"""A task runner that calls task functions on a Dask cluster.

Like ``ProcessPoolTaskRunner``, it orchestrates task runs on threads in this process and
sends only each task's function to Dask, so states, retries, caching and concurrency slots
behave the same on every runner. ``distributed`` is imported only when a runner starts,
which keeps ``import runplane`` free of it; it comes with ``pip install 'runplane[dask]'``.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from runplane._task_runners import ThreadPoolTaskRunner

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

R = TypeVar("R")

# How long a call waits for its Dask future between checks; see ``DaskTaskRunner.call``.
_WAIT_SLICE_SECONDS = 0.1


class DaskTaskRunner(ThreadPoolTaskRunner):
    """Orchestrates task runs on threads, and calls their functions on a Dask cluster.

    With ``address`` it connects to that scheduler; without it, each flow run starts a
    ``distributed.LocalCluster(**cluster_kwargs)`` and closes it when the flow run ends.
    ``client_kwargs`` go to ``distributed.Client``. ``max_workers`` caps how many task runs
    are orchestrated (and so in flight on the cluster) at once.

    Functions, arguments and return values travel the way Dask sends them (cloudpickle),
    so the workers need the task's own imports. The run context (``get_run_logger``) is
    not available inside the task functions.
    """

    def __init__(
        self,
        address: str | None = None,
        cluster_kwargs: Mapping[str, Any] | None = None,
        client_kwargs: Mapping[str, Any] | None = None,
        max_workers: int | None = None,
    ) -> None:
        if address is not None and cluster_kwargs:
            # They would be ignored: the cluster at the address already exists.
            raise ValueError("pass either address or cluster_kwargs, not both")
        super().__init__(max_workers)
        self.address = address
        self.cluster_kwargs: dict[str, Any] = dict(cluster_kwargs or {})
        self.client_kwargs: dict[str, Any] = dict(client_kwargs or {})
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None

    def __repr__(self) -> str:
        settings = [f"address={self.address!r}"] if self.address is not None else []
        if self.cluster_kwargs:
            settings.append(f"cluster_kwargs={self.cluster_kwargs!r}")
        if self.client_kwargs:
            settings.append(f"client_kwargs={self.client_kwargs!r}")
        settings.append(f"max_workers={self.max_workers}")
        return f"DaskTaskRunner({', '.join(settings)})"

    def duplicate(self) -> DaskTaskRunner:
        return DaskTaskRunner(
            self.address, self.cluster_kwargs, self.client_kwargs, self.max_workers
        )

    def start(self) -> None:
        # Connect before starting the threads, so that a failed connection leaves nothing
        # behind: the engine does not shut down a runner whose start() raised.
        if self._client is None:
            self._client, self._cluster = self._connect()
        super().start()

    def _connect(self) -> tuple[Client, LocalCluster | None]:
        try:
            import distributed
        except ImportError as error:
            raise ImportError(
                "DaskTaskRunner needs the distributed package: pip install 'runplane[dask]'"
            ) from error
        # Each flow run has a client of its own; as the process-wide default, concurrent
        # flow runs would swap Dask's global scheduler setting under one another.
        options: dict[str, Any] = {"set_as_default": False, **self.client_kwargs}
        if self.address is not None:
            try:
                return distributed.Client(self.address, **options), None
            except OSError as error:
                raise ConnectionError(
                    f"cannot reach the Dask scheduler at {self.address}: {error}"
                ) from error
        cluster = distributed.LocalCluster(**self.cluster_kwargs)
        try:
            return distributed.Client(cluster, **options), cluster
        except BaseException:
            cluster.close()
            raise

    def shutdown(self) -> None:
        try:
            super().shutdown()
        finally:
            client, self._client = self._client, None
            cluster, self._cluster = self._cluster, None
            try:
                if client is not None:
                    client.close()
            finally:
                if cluster is not None:
                    cluster.close()

    def call(self, fn: Callable[..., R], args: Sequence[Any], kwargs: Mapping[str, Any]) -> R:
        if self._client is None:
            self.start()
        assert self._client is not None
        # A partial keeps the task's keyword arguments away from submit()'s own (key,
        # retries, priority, ...), and needs nothing but the standard library on a worker.
        work = functools.partial(fn, *args, **kwargs)
        name = getattr(fn, "__name__", type(fn).__name__)
        future = self._client.submit(work, key=f"{name}-{uuid.uuid4().hex}", pure=False)
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        try:
            # A task's timeout arrives as an exception raised in this thread, which cannot
            # interrupt one long blocking wait; short waits let it land on time.
            while not done.wait(_WAIT_SLICE_SECONDS):
                pass
            result: R = future.result()
        except BaseException:
            # Only a timeout or an interrupt leaves the future running; a finished one
            # would cost a round trip to the scheduler for nothing.
            if not future.done():
                future.cancel()
            raise
        return result
