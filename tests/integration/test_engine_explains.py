"""A run explains itself: failures keep their traceback in the run's logs, prints belong to
the task run that printed them, the recorded retry policy has its delays, timeouts say how
long they allowed, and the console says which run began and how it ended."""

from __future__ import annotations

import threading
import uuid

import pytest
from engine_support import engine_api, task_runs

from runplane import LogFilter, LogRecord, StateType, SyncRunplaneClient, flow, task
from runplane._runtime.context import flow_run_context

__all__ = ["engine_api"]


def _run_id() -> uuid.UUID:
    context = flow_run_context.get()
    assert context is not None
    return context.flow_run_id


def _logs(client: SyncRunplaneClient, flow_run_id: uuid.UUID) -> list[LogRecord]:
    return list(client.list_logs(LogFilter(flow_run_id=flow_run_id)))


def _explode(n: int) -> None:
    raise ValueError(f"boom on {n}")


def test_a_failed_task_and_its_flow_log_the_traceback_as_errors(
    engine_api: SyncRunplaneClient,
) -> None:
    ids: list[uuid.UUID] = []

    @task
    def fragile(n: int) -> None:
        _explode(n)

    @flow
    def pipeline() -> None:
        ids.append(_run_id())
        fragile(1)

    state = pipeline(return_state=True)
    assert state.type is StateType.FAILED
    assert state.message == "the flow run failed: ValueError: boom on 1"  # short, no traceback
    (task_run,) = task_runs(engine_api, ids[0])
    errors = [r for r in _logs(engine_api, ids[0]) if r.level >= 40]
    on_task = [r for r in errors if r.task_run_id == task_run.id]
    on_flow = [r for r in errors if r.task_run_id is None]
    for records in (on_task, on_flow):
        assert len(records) == 1
        text = records[0].message
        assert text.startswith("Encountered exception during execution: ValueError: boom on 1")
        assert "Traceback (most recent call last)" in text
        assert "in _explode" in text
        assert "line " in text


def test_a_task_inherits_log_prints_and_its_prints_are_its_own(
    engine_api: SyncRunplaneClient, capsys: pytest.CaptureFixture[str]
) -> None:
    ids: list[uuid.UUID] = []

    @task
    def inherits() -> None:
        print("printed by an inheriting task")

    @task(log_prints=False)
    def opts_out() -> None:
        print("printed plainly")

    @flow(log_prints=True)
    def chatty() -> None:
        ids.append(_run_id())
        inherits()
        opts_out()
        inherits.submit().wait()

    chatty()
    runs = {run.id: run.name for run in task_runs(engine_api, ids[0])}
    printed = [r for r in _logs(engine_api, ids[0]) if r.message == "printed by an inheriting task"]
    assert len(printed) == 2
    assert all(r.task_run_id in runs for r in printed)  # the task run's logs, not the flow's
    assert len({r.task_run_id for r in printed}) == 2
    assert not [r for r in _logs(engine_api, ids[0]) if r.message == "printed plainly"]
    assert "printed plainly" in capsys.readouterr().out


def test_the_recorded_retry_policy_has_its_delays(engine_api: SyncRunplaneClient) -> None:
    ids: list[uuid.UUID] = []

    @task(retries=3, retry_delay_seconds=[0.01, 0.02])
    def flaky() -> int:
        return 1

    @flow
    def run() -> None:
        ids.append(_run_id())
        flaky()

    run()
    (recorded,) = task_runs(engine_api, ids[0])
    assert recorded.retry_policy is not None
    assert recorded.retry_policy.retries == 3
    assert list(recorded.retry_policy.retry_delay_seconds) == [0.01, 0.02, 0.02]


def test_a_thread_task_timeout_is_recorded_with_its_duration(
    engine_api: SyncRunplaneClient,
) -> None:
    ids: list[uuid.UUID] = []
    release = threading.Event()

    @task(timeout_seconds=0.5)
    def spins() -> None:
        while not release.is_set():  # Python code: the timeout stops it
            release.wait(0.01)

    @flow
    def run() -> None:
        ids.append(_run_id())
        spins.submit().wait()

    try:
        run()
    finally:
        release.set()
    (recorded,) = task_runs(engine_api, ids[0])
    assert recorded.state is not None
    assert recorded.state.name == "TimedOut"
    assert "timed out after 0.5 seconds" in recorded.state.message


def test_the_console_says_which_run_began_and_how_it_ended(
    engine_api: SyncRunplaneClient, capsys: pytest.CaptureFixture[str]
) -> None:
    ids: list[uuid.UUID] = []

    @flow(name="etl")
    def etl() -> int:
        ids.append(_run_id())
        return 1

    etl()
    err = capsys.readouterr().err
    name = engine_api.get_flow_run(ids[0]).name
    assert f"Beginning flow run {name!r} for flow 'etl' (id {ids[0]})" in err
    assert f"Flow run {name!r} finished in state Completed()" in err
    assert f"runplane flow-run logs {ids[0]}" in err


def test_the_console_lines_are_off_with_the_setting(
    engine_api: SyncRunplaneClient,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runplane._engine.client import reset_engine_client

    monkeypatch.setenv("RUNPLANE_CONSOLE_LINES", "false")
    reset_engine_client()

    @flow(name="quiet")
    def quiet() -> int:
        return 1

    assert quiet() == 1
    err = capsys.readouterr().err
    assert "Beginning flow run" not in err
    assert "finished in state" not in err
