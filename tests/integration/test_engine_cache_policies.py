"""``task_input_hash`` and ``FLOW_PARAMETERS`` reuse results across flow runs, as in Prefect."""

from __future__ import annotations

import uuid

from engine_support import any_engine_api, tagged_runs, task_runs

from runplane import (
    FLOW_PARAMETERS,
    TASK_SOURCE,
    SyncRunplaneClient,
    flow,
    tags,
    task,
    task_input_hash,
)
from runplane._engine.client import engine_client

__all__ = ["any_engine_api"]

calls: list[str] = []


@task(cache_key_fn=task_input_hash)
def fetch(salt: str, item: int) -> str:
    calls.append(f"fetch {item}")
    return f"{item}-{len(calls)}"


@flow
def fetching(salt: str, items: list[int]) -> list[str]:
    return [fetch(salt, item) for item in items]


@task(cache_policy=FLOW_PARAMETERS + TASK_SOURCE)
def summarize(ignored: int) -> str:
    calls.append(f"summarize {ignored}")
    return f"summary-{len(calls)}"


@flow
def summarizing(salt: str, ignored: int) -> str:
    return summarize(ignored)


def _cached(client: SyncRunplaneClient, tag: str) -> list[str]:
    """The state names of the tagged flow run's task runs, in the order they were called."""
    (run,) = tagged_runs(client, tag)
    ended = {r.name: r.state.name for r in task_runs(client, run.id) if r.state is not None}
    return [ended[name] for name in sorted(ended, key=lambda name: int(name.rsplit("-")[-1]))]


def test_task_input_hash_reuses_results_of_equal_arguments(
    any_engine_api: SyncRunplaneClient,
) -> None:
    calls.clear()
    salt = uuid.uuid4().hex
    with tags("first"):
        first = fetching(salt, [1, 2])
    engine_client().cached_results.clear()  # the second run asks the server
    with tags("second"):
        second = fetching(salt, [2, 1, 3])
    assert second == [first[1], first[0], "3-3"]
    assert calls == ["fetch 1", "fetch 2", "fetch 3"]
    assert _cached(any_engine_api, "second") == ["Cached", "Cached", "Completed"]


def test_flow_parameters_reuse_results_of_runs_with_equal_parameters(
    any_engine_api: SyncRunplaneClient,
) -> None:
    calls.clear()
    salt = uuid.uuid4().hex
    first = summarizing(salt, 1)
    engine_client().cached_results.clear()
    with tags("same-parameters"):
        assert summarizing(salt, 1) == first
    assert summarizing(uuid.uuid4().hex, 1) != first
    assert calls == ["summarize 1", "summarize 1"]
    assert _cached(any_engine_api, "same-parameters") == ["Cached"]
