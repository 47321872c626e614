"""``allow_failure``: a task runs after an upstream run that failed, and sees its exception."""

from __future__ import annotations

from typing import Any

from engine_support import any_engine_api, tagged_runs, task_runs

from runplane import StateType, SyncRunplaneClient, allow_failure, flow, tags, task

__all__ = ["any_engine_api"]


class Broken(Exception):
    pass


@task
def source(fail: bool) -> int:
    if fail:
        raise Broken("no data")
    return 7


@task
def describe(upstream: Any, extra: int = 0) -> str:
    if isinstance(upstream, BaseException):
        return f"upstream failed: {type(upstream).__name__}: {upstream}"
    return f"upstream gave {upstream + extra}"


@task
def kinds(items: list[Any]) -> list[str]:
    return [type(item).__name__ for item in items]


@task
def cleanup() -> str:
    return "cleaned"


@flow
def tolerant(fail: bool) -> dict[str, Any]:
    upstream = source.submit(fail)
    as_argument = describe.submit(allow_failure(upstream))
    in_a_list = kinds.submit([allow_failure(upstream), 1])
    after = cleanup.submit(wait_for=[allow_failure(upstream)])
    strict = describe.submit(upstream)
    strict.wait()
    return {
        "argument": as_argument.result(),
        "list": in_a_list.result(),
        "after": after.result(),
        "strict": strict.state.name,
        "direct": describe(allow_failure(upstream), extra=1),
    }


def test_a_failed_upstream_is_passed_as_its_exception(
    any_engine_api: SyncRunplaneClient,
) -> None:
    with tags("failed-upstream"):
        state = tolerant(True, return_state=True)
    seen = state.result()
    assert seen["argument"] == "upstream failed: Broken: no data"
    assert seen["direct"] == "upstream failed: Broken: no data"
    assert seen["after"] == "cleaned"
    assert seen["strict"] == "NotReady"
    assert seen["list"] == ["Broken", "int"]
    (run,) = tagged_runs(any_engine_api, "failed-upstream")
    runs = task_runs(any_engine_api, run.id)
    ends = sorted((run.name, run.state.name) for run in runs if run.state is not None)
    assert ends == [
        ("cleanup-0", "Completed"),
        ("describe-0", "Completed"),
        ("describe-1", "NotReady"),
        ("describe-2", "Completed"),
        ("kinds-0", "Completed"),
        ("source-0", "Failed"),
    ]
    waited = next(run for run in runs if run.name == "cleanup-0")
    upstream = next(run for run in runs if run.name == "source-0")
    assert waited.inputs["wait_for"] == (upstream.id,)


def test_a_completed_upstream_is_passed_as_its_result(
    any_engine_api: SyncRunplaneClient,
) -> None:
    with tags("completed-upstream"):
        seen = tolerant(False)
    assert seen["argument"] == "upstream gave 7"
    assert seen["direct"] == "upstream gave 8"
    assert seen["strict"] == "Completed"
    assert seen["list"] == ["int", "int"]
    assert seen["after"] == "cleaned"
    (run,) = tagged_runs(any_engine_api, "completed-upstream")
    runs = task_runs(any_engine_api, run.id)
    assert all(run.state is not None for run in runs)
    assert {run.state.type for run in runs if run.state is not None} == {StateType.COMPLETED}
