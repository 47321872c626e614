"""The blocking runplane client: the async client driven on an event loop thread."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, Concatenate, Generic, Literal, ParamSpec, Self, TypeVar, overload

from runplane._client.client import RunplaneClient
from runplane._client.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class _LoopThread:
    """An event loop running forever on a daemon thread; coroutines are submitted to it."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="runplane-client", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, R]) -> R:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except BaseException:
            # E.g. KeyboardInterrupt while waiting: do not leave the call running.
            future.cancel()
            raise


# One loop thread serves every blocking client of the process, and it is never closed:
# gRPC hands each call's last events to the loop that made the call, even after its channel
# is closed, and a closed loop would refuse them (with an error in whichever loop forwards
# them). A loop that stays open also spares each client a thread of its own.
_shared: _LoopThread | None = None
_shared_lock = threading.Lock()
_forked_away: list[_LoopThread] = []
"""Loops whose threads did not survive a fork: kept, not closed, as the parent uses them."""


def _shared_loop() -> _LoopThread:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = _LoopThread()
        return _shared


def run_on_shared_loop(coroutine: Coroutine[Any, Any, R]) -> R:
    """Runs ``coroutine`` to its end on the loop the blocking clients share (see above), for a
    program's own streams: a loop of its own would be closed while gRPC may still send it a
    call's last events. Ctrl-C in the waiting thread cancels the coroutine."""
    return _shared_loop().run(coroutine)


def _after_fork_in_child() -> None:
    global _shared, _shared_lock
    _shared_lock = threading.Lock()
    if _shared is not None:
        _forked_away.append(_shared)
        _shared = None


os.register_at_fork(after_in_child=_after_fork_in_child)


async def _next(iterator: AsyncIterator[T]) -> list[T]:
    """The next item as a one-item list, or an empty list at the end."""
    try:
        return [await anext(iterator)]
    except StopAsyncIteration:
        return []


class _Blocking(Generic[P, R]):
    """Turns an async ``RunplaneClient`` method into a blocking ``SyncRunplaneClient`` one."""

    def __init__(
        self, method: Callable[Concatenate[RunplaneClient, P], Coroutine[Any, Any, R]]
    ) -> None:
        self._method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: SyncRunplaneClient, owner: type[Any]) -> Callable[P, R]: ...
    def __get__(self, client: SyncRunplaneClient | None, owner: type[Any]) -> Any:
        if client is None:
            return self
        method = self._method

        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            return client._call(lambda aclient: method(aclient, *args, **kwargs))

        call.__doc__, call.__name__ = method.__doc__, method.__name__
        return call


class _BlockingStream(Generic[P, T]):
    """Turns a streaming ``RunplaneClient`` method into one returning a blocking iterator."""

    def __init__(
        self, method: Callable[Concatenate[RunplaneClient, P], AsyncGenerator[T, None]]
    ) -> None:
        self._method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(
        self, client: SyncRunplaneClient, owner: type[Any]
    ) -> Callable[P, Generator[T, None, None]]: ...
    def __get__(self, client: SyncRunplaneClient | None, owner: type[Any]) -> Any:
        if client is None:
            return self
        method = self._method

        def call(*args: P.args, **kwargs: P.kwargs) -> Generator[T, None, None]:
            return client._iterate(lambda aclient: method(aclient, *args, **kwargs))

        call.__doc__, call.__name__ = method.__doc__, method.__name__
        return call


class SyncRunplaneClient:
    """The blocking twin of ``RunplaneClient``: same methods, same models, same errors.

    ``with SyncRunplaneClient(settings) as client:`` connects; unary calls run in the calling
    thread, and streams on an event loop thread that all clients of the process share. The
    streaming methods return plain iterators (close them, or exhaust them, to end the
    stream). Safe to call from several threads.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._client = RunplaneClient(settings)
        # The same client on a blocking channel: unary calls run in the calling thread.
        self._direct = RunplaneClient(self._client.settings)
        self._loop: _LoopThread | None = None

    @property
    def settings(self) -> Settings:
        return self._client.settings

    def open(self) -> None:
        """Connects (starting the shared loop thread if needed); ``with`` calls it."""
        if self._loop is not None:
            return
        loop = _shared_loop()
        try:
            loop.run(self._client.open())
            self._direct._open_blocking()
        except BaseException:
            self._direct._close_blocking()
            loop.run(self._client.close())
            raise
        self._loop = loop

    def close(self) -> None:
        """Disconnects: closes the channels, cancelling streams still open."""
        loop, self._loop = self._loop, None
        if loop is not None:
            try:
                self._direct._close_blocking()
            finally:
                loop.run(self._client.close())

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _require_loop(self) -> _LoopThread:
        if self._loop is None:
            raise RuntimeError("the client is not open: use `with SyncRunplaneClient() as c:`")
        return self._loop

    def _run(self, call: Callable[[RunplaneClient], Coroutine[Any, Any, R]]) -> R:
        """Runs any coroutine of the async client on the loop thread."""
        return self._require_loop().run(call(self._client))

    def _call(self, call: Callable[[RunplaneClient], Coroutine[Any, Any, R]]) -> R:
        """Runs a coroutine that awaits nothing but unary calls, in the calling thread.

        On the blocking channel each unary call completes in place, so the coroutine ends at
        its first step; this skips two thread hand-offs and an event loop turn per call.
        """
        self._require_loop()
        coroutine = call(self._direct)
        try:
            coroutine.send(None)
        except StopIteration as finished:
            result: R = finished.value
            return result
        coroutine.close()
        raise RuntimeError("a blocking client call awaited something other than a unary call")

    def _iterate(
        self, call: Callable[[RunplaneClient], AsyncGenerator[T, None]]
    ) -> Generator[T, None, None]:
        loop = self._require_loop()
        stream = call(self._client)

        def items() -> Generator[T, None, None]:
            try:
                while batch := loop.run(_next(stream)):
                    yield batch[0]
            finally:
                # Closing the async generator cancels the call; skip it once the loop is gone.
                if self._loop is loop:
                    loop.run(stream.aclose())

        return items()

    # Flows
    create_flow = _Blocking(RunplaneClient.create_flow)
    get_flow = _Blocking(RunplaneClient.get_flow)
    get_flow_by_name = _Blocking(RunplaneClient.get_flow_by_name)
    list_flows = _Blocking(RunplaneClient.list_flows)
    delete_flow = _Blocking(RunplaneClient.delete_flow)

    # Flow runs
    create_flow_run = _Blocking(RunplaneClient.create_flow_run)
    get_flow_run = _Blocking(RunplaneClient.get_flow_run)
    list_flow_runs = _Blocking(RunplaneClient.list_flow_runs)
    delete_flow_run = _Blocking(RunplaneClient.delete_flow_run)
    set_flow_run_state = _Blocking(RunplaneClient.set_flow_run_state)
    list_flow_run_states = _Blocking(RunplaneClient.list_flow_run_states)
    watch_flow_runs = _BlockingStream(RunplaneClient.watch_flow_runs)

    # Task runs
    create_task_run = _Blocking(RunplaneClient.create_task_run)
    get_task_run = _Blocking(RunplaneClient.get_task_run)
    list_task_runs = _Blocking(RunplaneClient.list_task_runs)
    set_task_run_state = _Blocking(RunplaneClient.set_task_run_state)
    list_task_run_states = _Blocking(RunplaneClient.list_task_run_states)
    report_task_runs = _Blocking(RunplaneClient.report_task_runs)
    lookup_cached_state = _Blocking(RunplaneClient.lookup_cached_state)
    heartbeat_task_runs = _Blocking(RunplaneClient.heartbeat_task_runs)
    subscribe_task_runs = _BlockingStream(RunplaneClient.subscribe_task_runs)
    watch_task_run = _BlockingStream(RunplaneClient.watch_task_run)

    # Deployments
    create_deployment = _Blocking(RunplaneClient.create_deployment)
    get_deployment = _Blocking(RunplaneClient.get_deployment)
    get_deployment_by_name = _Blocking(RunplaneClient.get_deployment_by_name)
    list_deployments = _Blocking(RunplaneClient.list_deployments)
    update_deployment = _Blocking(RunplaneClient.update_deployment)
    delete_deployment = _Blocking(RunplaneClient.delete_deployment)
    run_deployment = _Blocking(RunplaneClient.run_deployment)

    # Work pools, queues and the work stream
    create_work_pool = _Blocking(RunplaneClient.create_work_pool)
    get_work_pool = _Blocking(RunplaneClient.get_work_pool)
    list_work_pools = _Blocking(RunplaneClient.list_work_pools)
    update_work_pool = _Blocking(RunplaneClient.update_work_pool)
    delete_work_pool = _Blocking(RunplaneClient.delete_work_pool)
    create_work_queue = _Blocking(RunplaneClient.create_work_queue)
    list_work_queues = _Blocking(RunplaneClient.list_work_queues)
    update_work_queue = _Blocking(RunplaneClient.update_work_queue)
    subscribe_work = _BlockingStream(RunplaneClient.subscribe_work)
    heartbeat = _Blocking(RunplaneClient.heartbeat)
    release_assignment = _Blocking(RunplaneClient.release_assignment)

    # Logs
    write_logs = _Blocking(RunplaneClient.write_logs)
    list_logs = _Blocking(RunplaneClient.list_logs)
    follow_logs = _BlockingStream(RunplaneClient.follow_logs)

    # Concurrency
    create_concurrency_limit = _Blocking(RunplaneClient.create_concurrency_limit)
    get_concurrency_limit = _Blocking(RunplaneClient.get_concurrency_limit)
    list_concurrency_limits = _Blocking(RunplaneClient.list_concurrency_limits)
    all_concurrency_limits = _Blocking(RunplaneClient.all_concurrency_limits)
    delete_concurrency_limit = _Blocking(RunplaneClient.delete_concurrency_limit)
    acquire_concurrency_slots = _Blocking(RunplaneClient.acquire_concurrency_slots)
    renew_concurrency_lease = _Blocking(RunplaneClient.renew_concurrency_lease)
    release_concurrency_slots = _Blocking(RunplaneClient.release_concurrency_slots)

    # Variables
    set_variable = _Blocking(RunplaneClient.set_variable)
    get_variable = _Blocking(RunplaneClient.get_variable)
    list_variables = _Blocking(RunplaneClient.list_variables)
    delete_variable = _Blocking(RunplaneClient.delete_variable)

    # Artifacts
    create_artifact = _Blocking(RunplaneClient.create_artifact)
    get_artifact = _Blocking(RunplaneClient.get_artifact)
    list_artifacts = _Blocking(RunplaneClient.list_artifacts)
    update_artifact = _Blocking(RunplaneClient.update_artifact)
    delete_artifact = _Blocking(RunplaneClient.delete_artifact)


@overload
def get_client(
    sync_client: Literal[False] = False, settings: Settings | None = None
) -> RunplaneClient: ...
@overload
def get_client(
    sync_client: Literal[True], settings: Settings | None = None
) -> SyncRunplaneClient: ...
def get_client(
    sync_client: bool = False, settings: Settings | None = None
) -> RunplaneClient | SyncRunplaneClient:
    """A client for the configured API (``get_settings()`` unless ``settings`` is given).

    Use the async one with ``async with``, the blocking one (``sync_client=True``) with ``with``.
    """
    if sync_client:
        return SyncRunplaneClient(settings)
    return RunplaneClient(settings)
