"""A flow or task that returns a state ends in it, with its message and data."""

from __future__ import annotations

import pytest
from engine_support import any_engine_api, tagged_runs, task_runs

import runplane
from runplane import StateType, SyncRunplaneClient, flow, tags, task
from runplane._runtime.results import RunFailed

__all__ = ["any_engine_api"]


def test_constructors_build_states_with_message_and_data() -> None:
    done = runplane.Completed(message="all good", data=[1, 2])
    assert (done.type, done.name, done.message) == (StateType.COMPLETED, "Completed", "all good")
    assert done.result() == [1, 2]
    problem = ValueError("bad input")
    failed = runplane.Failed(message="no luck", data=problem)
    assert failed.is_failed()
    assert failed.message == "no luck"
    assert failed.result(raise_on_failure=False) is problem
    with pytest.raises(RunFailed, match="gone"):
        runplane.Cancelled(message="gone").result()
    assert runplane.Crashed().name == "Crashed"
    assert runplane.Pending().is_pending()
    assert runplane.Running().is_running()
    assert runplane.Scheduled(name="Late").name == "Late"
    assert runplane.Completed().result() is None


@task
def check(value: int) -> runplane.State | int:
    if value < 0:
        return runplane.Failed(message=f"{value} is negative")
    return runplane.Completed(message="checked", data=value * 10)


@flow
def checks(values: list[int]) -> dict[int, runplane.State]:
    # A dict of states is a plain value; a list of them would be taken together.
    return {value: check(value, return_state=True) for value in values}


@flow
def gives_up(reason: str) -> runplane.State:
    return runplane.Failed(message=reason)


@flow(retries=2, retry_delay_seconds=0)
def finishes(value: int) -> runplane.State:
    return runplane.Completed(data=value + 1)


def test_a_flow_returning_failed_ends_failed_with_its_message(
    any_engine_api: SyncRunplaneClient,
) -> None:
    with tags("gives-up"):
        state = gives_up("nothing to do today", return_state=True)
        assert state.is_failed()
        assert state.message == "nothing to do today"
        with pytest.raises(RunFailed, match="again"):
            gives_up("again")
    runs = tagged_runs(any_engine_api, "gives-up")
    ended = {(run.state.type, run.state.message) for run in runs if run.state is not None}
    assert ended == {(StateType.FAILED, "nothing to do today"), (StateType.FAILED, "again")}


def test_a_flow_returning_completed_ends_completed_with_its_data(
    any_engine_api: SyncRunplaneClient,
) -> None:
    with tags("finishes"):
        assert finishes(4) == 5
    (run,) = tagged_runs(any_engine_api, "finishes")
    assert run.state is not None
    assert run.state.type is StateType.COMPLETED
    assert run.run_count == 1


def test_tasks_returning_states_end_in_them(any_engine_api: SyncRunplaneClient) -> None:
    with tags("checks"):
        state = checks([3, -1], return_state=True)
    assert state.is_completed()
    passed, refused = state.result().values()
    assert passed.is_completed()
    assert passed.result() == 30
    assert refused.is_failed()
    assert refused.message == "-1 is negative"
    with pytest.raises(RunFailed, match="-1 is negative"):
        refused.result()
    stored = {
        run.name: run
        for run in task_runs(any_engine_api, tagged_runs(any_engine_api, "checks")[0].id)
    }
    assert stored["check-0"].state is not None
    assert stored["check-0"].state.type is StateType.COMPLETED
    assert stored["check-0"].state.message == "checked"
    assert stored["check-1"].state is not None
    assert stored["check-1"].state.type is StateType.FAILED
    assert stored["check-1"].state.message == "-1 is negative"


@flow
def several(values: list[int]) -> list[runplane.State]:
    return [check(value, return_state=True) for value in values]


def test_a_list_of_states_is_taken_together(any_engine_api: SyncRunplaneClient) -> None:
    with tags("several"):
        good = several([1, 2], return_state=True)
        bad = several([1, -2, -3], return_state=True)
    assert good.is_completed()
    assert good.message == "All states completed."
    assert [state.result() for state in good.result()] == [10, 20]
    assert bad.is_failed()
    assert bad.message == "2/3 states failed."
    runs = tagged_runs(any_engine_api, "several")
    ended = sorted((run.state.type, run.state.message) for run in runs if run.state is not None)
    assert ended == [
        (StateType.COMPLETED, "All states completed."),
        (StateType.FAILED, "2/3 states failed."),
    ]
