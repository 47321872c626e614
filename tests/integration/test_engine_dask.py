"""Flows on the Dask task runner through a real server: results, retries, failures, processes."""

from __future__ import annotations

import errno
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import get_worker
from engine_support import engine_api, state_names, task_runs

from runplane import (
    DaskTaskRunner,
    StateType,
    SyncRunplaneClient,
    TimedOut,
    flow,
    get_run_context,
    task,
)

__all__ = ["engine_api"]

# Where Dask puts its dashboard unless told otherwise; anything on the machine may hold it.
DASK_DASHBOARD_PORT = 8787


@pytest.fixture(autouse=True)
def dashboard_port_taken() -> Iterator[None]:
    """Holds Dask's default dashboard port, as another program might: the clusters here must
    not need it."""
    with socket.socket() as holder:
        try:
            holder.bind(("127.0.0.1", DASK_DASHBOARD_PORT))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            yield  # something else holds it already, which serves as well
            return
        holder.listen()
        yield


# The scheduler always serves HTTP; None does not turn that off but means port 8787. Any free
# loopback port instead, so that a program holding 8787 cannot fail these tests.
ANY_PORT_DASHBOARD = {"dashboard_address": "127.0.0.1:0"}
# One worker thread pool in this process: starts in a fraction of a second.
IN_PROCESS: dict[str, Any] = {
    "n_workers": 1,
    "threads_per_worker": 2,
    "processes": False,
    **ANY_PORT_DASHBOARD,
}


def test_submitted_and_mapped_tasks_run_on_dask(engine_api: SyncRunplaneClient) -> None:
    ids: list[uuid.UUID] = []

    @task
    def square(x: int) -> int:
        return x * x

    # A parameter named like one of Dask's submit() options must still reach the function.
    @task
    def add(x: int, key: int) -> tuple[int, str]:
        return x + key, get_worker().address

    @flow(task_runner=DaskTaskRunner(cluster_kwargs=IN_PROCESS))
    def run() -> dict[str, Any]:
        ids.append(get_run_context().flow_run.id)
        squares = square.map([1, 2, 3])
        total, worker = add.submit(squares[2], key=100).result()
        return {"squares": [f.result() for f in squares], "total": total, "worker": worker}

    value = run()
    assert value["squares"] == [1, 4, 9]
    assert value["total"] == 109
    assert value["worker"]  # only a Dask worker has an address
    recorded = task_runs(engine_api, ids[0])
    assert len(recorded) == 4
    assert all(r.state is not None and r.state.type is StateType.COMPLETED for r in recorded)


def test_a_failed_attempt_is_retried_on_dask(
    engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    ids: list[uuid.UUID] = []
    # The attempts are counted in a file, which any worker, in any process, can append to.
    attempts = tmp_path / "attempts"

    @task(retries=1, retry_delay_seconds=0)
    def flaky() -> int:
        with attempts.open("a") as file:
            file.write("attempt\n")
        count = len(attempts.read_text().splitlines())
        if count < 2:
            raise ConnectionError("try again")
        return count

    @flow(task_runner=DaskTaskRunner(cluster_kwargs=IN_PROCESS))
    def run() -> int:
        ids.append(get_run_context().flow_run.id)
        return flaky.submit().result()

    assert run() == 2
    (recorded,) = task_runs(engine_api, ids[0])
    assert recorded.run_count == 2
    assert state_names(engine_api, recorded.id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


def test_a_task_raising_on_dask_fails_with_its_error(engine_api: SyncRunplaneClient) -> None:
    ids: list[uuid.UUID] = []
    errors: list[BaseException] = []

    @task
    def explode(x: int) -> int:
        raise ValueError(f"bad input {x}")

    @flow(task_runner=DaskTaskRunner(cluster_kwargs=IN_PROCESS))
    def run() -> int:
        ids.append(get_run_context().flow_run.id)
        future = explode.submit(3)
        errors.append(future.result(raise_on_failure=False))
        return future.result()

    state = run(return_state=True)
    assert state.type is StateType.FAILED
    assert "ValueError: bad input 3" in state.message
    assert type(errors[0]) is ValueError  # the task's own exception, not a wrapper
    (recorded,) = task_runs(engine_api, ids[0])
    assert recorded.state is not None
    assert recorded.state.type is StateType.FAILED
    assert "bad input 3" in recorded.state.message


def test_a_task_over_its_timeout_on_dask_is_timed_out(
    engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    # Dask pickles the function even for workers in this process, so no threading.Event.
    release = tmp_path / "release"

    @task(timeout_seconds=0.2)
    def stuck() -> None:
        deadline = time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)

    @flow(task_runner=DaskTaskRunner(cluster_kwargs=IN_PROCESS))
    def run() -> tuple[str, float]:
        started = time.monotonic()
        future = stuck.submit()
        future.wait()
        elapsed = time.monotonic() - started
        release.touch()  # lets the worker thread go, so the cluster closes at once
        return future.state.name, elapsed

    name, elapsed = run()
    assert name == "TimedOut"
    assert elapsed < 30  # the wait ended with the timeout, not with the task's 60 s
    release.unlink()

    @flow(task_runner=DaskTaskRunner(cluster_kwargs=IN_PROCESS))
    def direct() -> None:
        try:
            stuck.submit().result()
        finally:
            release.touch()

    with pytest.raises(TimedOut):
        direct()


def test_worker_processes_run_the_task_functions(engine_api: SyncRunplaneClient) -> None:
    @task
    def pid(x: int) -> tuple[int, int]:
        return x, os.getpid()

    cluster: dict[str, Any] = {
        "n_workers": 1,
        "threads_per_worker": 2,
        "processes": True,
        **ANY_PORT_DASHBOARD,
    }

    @flow(task_runner=DaskTaskRunner(cluster_kwargs=cluster))
    def run() -> list[tuple[int, int]]:
        return [f.result() for f in pid.map([1, 2])]

    results = run()
    assert [x for x, _ in results] == [1, 2]
    assert all(worker != os.getpid() for _, worker in results)


def test_an_unreachable_scheduler_fails_the_flow_run(engine_api: SyncRunplaneClient) -> None:
    @task
    def one() -> int:
        return 1

    runner = DaskTaskRunner(address="tcp://127.0.0.1:1", client_kwargs={"timeout": "2s"})

    @flow(task_runner=runner)
    def run() -> int:
        return one.submit().result()

    started = time.monotonic()
    state = run(return_state=True)
    assert time.monotonic() - started < 20
    assert state.type is StateType.FAILED
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in state.message


def test_duplicate_keeps_the_settings() -> None:
    runner = DaskTaskRunner(
        cluster_kwargs={"n_workers": 2}, client_kwargs={"timeout": "5s"}, max_workers=3
    )
    copy = runner.duplicate()
    assert copy is not runner
    assert (copy.address, copy.cluster_kwargs, copy.client_kwargs, copy.max_workers) == (
        None,
        {"n_workers": 2},
        {"timeout": "5s"},
        3,
    )
    assert repr(copy) == repr(runner)
    assert repr(copy) == (
        "DaskTaskRunner(cluster_kwargs={'n_workers': 2}, client_kwargs={'timeout': '5s'}, "
        "max_workers=3)"
    )
    remote = DaskTaskRunner(address="tcp://scheduler:8786").duplicate()
    assert remote.address == "tcp://scheduler:8786"


def test_an_address_and_a_local_cluster_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="either address or cluster_kwargs"):
        DaskTaskRunner(address="tcp://scheduler:8786", cluster_kwargs={"n_workers": 1})


def test_without_distributed_start_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install 'runplane\[dask\]'"):
        DaskTaskRunner().start()
