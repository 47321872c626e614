"""``map`` over a future's result, and the list of futures ``map`` returns."""

from __future__ import annotations

from typing import Any

import pytest
from engine_support import any_engine_api, tagged_runs, task_runs

from runplane import (
    RunplaneFutureList,
    SyncRunplaneClient,
    UpstreamFailed,
    flow,
    tags,
    task,
    unmapped,
)

__all__ = ["any_engine_api"]


@task
def numbers(count: int) -> list[int]:
    if count < 0:
        raise ValueError("no numbers")
    return list(range(count))


@task
def scale(value: int, factor: int) -> int:
    if value == 2 and factor == 0:
        raise ValueError("two")
    return value * factor


@task
def size(items: list[int], plus: int) -> int:
    return len(items) + plus


@flow
def mapped(count: int) -> dict[str, Any]:
    upstream = numbers.submit(count)
    factor = size.submit([5, 6], 0)
    futures = scale.map(upstream, 3)
    whole = size.map(unmapped(upstream), [1, 2])
    futures.wait()
    return {
        "is_list": isinstance(futures, RunplaneFutureList),
        "values": futures.result(),
        "whole": whole.result(),
        "by_a_future": scale.map([1, 2], factor).result(),
    }


def test_map_runs_over_a_futures_result(any_engine_api: SyncRunplaneClient) -> None:
    with tags("mapped"):
        seen = mapped(3)
    assert seen == {"is_list": True, "values": [0, 3, 6], "whole": [4, 5], "by_a_future": [2, 4]}
    (run,) = tagged_runs(any_engine_api, "mapped")
    runs = {task_run.name: task_run for task_run in task_runs(any_engine_api, run.id)}
    assert runs["scale-0"].inputs["wait_for"] == (runs["numbers-0"].id,)


@flow
def partly_failing() -> list[Any]:
    futures = scale.map([1, 2, 3], 0)
    with pytest.raises(ValueError, match="two"):
        futures.result()
    return futures.result(raise_on_failure=False)


def test_the_list_result_raises_or_returns_failures(any_engine_api: SyncRunplaneClient) -> None:
    first, failed, third = partly_failing()
    assert (first, third) == (0, 0)
    assert isinstance(failed, ValueError)


@flow
def over_a_failure() -> None:
    scale.map(numbers.submit(-1), 2)


def test_mapping_over_a_failed_future_raises_upstream_failed(
    any_engine_api: SyncRunplaneClient,
) -> None:
    with pytest.raises(UpstreamFailed, match="cannot map over 'value'"):
        over_a_failure()
