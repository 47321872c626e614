"""Every option ``@task(...)`` and ``@flow(...)`` take is taken and kept by ``with_options``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from runplane import INPUTS, ThreadPoolTaskRunner, flow, task
from runplane._flows import Flow, FlowOptions
from runplane._runtime.results import JSONSerializer, LocalFileSystem
from runplane._tasks import Task, TaskOptions


def _hook(*_: Any) -> None:
    return None


def _other_hook(*_: Any) -> None:
    return None


# Two values for each option, both unlike its default. A new option needs a line here.
TASK_VALUES: dict[str, tuple[Any, Any]] = {
    "name": ("first", "second"),
    "description": ("one", "two"),
    "version": ("1", "2"),
    "tags": (("a",), ("b", "c")),
    "retries": (1, 3),
    "retry_delay_seconds": (1.0, [1.0, 2.0]),
    "retry_jitter_factor": (0.5, 1.0),
    "retry_condition_fn": (lambda *_: True, lambda *_: False),
    "timeout_seconds": (5.0, 9.0),
    # cache_policy and cache_key_fn exclude each other: each is None while the other is set.
    "cache_policy": (None, INPUTS),
    "cache_key_fn": (None, lambda *_: "key"),
    "cache_expiration": (60.0, 120.0),
    "refresh_cache": (True, False),
    "persist_result": (True, False),
    "result_storage": (LocalFileSystem("/results/a"), LocalFileSystem("/results/b")),
    "result_serializer": ("json", JSONSerializer()),
    "result_storage_key": ("{parameters[x]}.json", "{task_run.name}/{flow_run.id}"),
    "cache_result_in_memory": (False, True),
    "task_run_name": ("run-a", "run-b"),
    "log_prints": (True, False),
    "on_completion": ([_hook], [_other_hook]),
    "on_failure": ([_hook], [_other_hook]),
}
FLOW_VALUES: dict[str, tuple[Any, Any]] = {
    "name": ("first", "second"),
    "description": ("one", "two"),
    "version": ("1", "2"),
    "retries": (1, 3),
    "retry_delay_seconds": (1.0, [1.0, 2.0]),
    "timeout_seconds": (5.0, 9.0),
    "tags": (("a",), ("b", "c")),
    "log_prints": (True, False),
    "persist_result": (True, False),
    "result_storage": (LocalFileSystem("/results/a"), LocalFileSystem("/results/b")),
    "result_serializer": ("json", JSONSerializer()),
    "cache_result_in_memory": (False, True),
    "flow_run_name": ("run-a", "run-b"),
    "validate_parameters": (False, True),
    "task_runner": (ThreadPoolTaskRunner(max_workers=2), ThreadPoolTaskRunner(max_workers=3)),
    "on_completion": ([_hook], [_other_hook]),
    "on_failure": ([_hook], [_other_hook]),
    "on_crashed": ([_hook], [_other_hook]),
    "on_cancellation": ([_hook], [_other_hook]),
    "on_running": ([_hook], [_other_hook]),
}


def _given(options: Any) -> dict[str, Any]:
    return {field.name: getattr(options, field.name) for field in dataclasses.fields(options)}


def work(x: int) -> int:
    return x


Made = Task[Any, Any] | Flow[Any, Any]
KINDS: list[tuple[Callable[..., Any], type[Any], dict[str, tuple[Any, Any]]]] = [
    (task, TaskOptions, TASK_VALUES),
    (flow, FlowOptions, FLOW_VALUES),
]


@pytest.mark.parametrize(("decorator", "options_type", "values"), KINDS, ids=["task", "flow"])
def test_every_decorator_option_is_changed_and_kept_by_with_options(
    decorator: Callable[..., Any], options_type: type[Any], values: dict[str, tuple[Any, Any]]
) -> None:
    names = [field.name for field in dataclasses.fields(options_type)]
    assert sorted(values) == sorted(names)
    first = {name: pair[0] for name, pair in values.items()}
    made: Made = decorator(**first)(work)
    assert _given(made.options) == first
    for name, (_, second) in values.items():
        changed: Made = made.with_options(**{name: second})
        assert type(changed) is type(made)
        assert _given(changed.options) == {**first, name: second}, name
    assert made.with_options().options == made.options


@pytest.mark.parametrize(("decorator", "kind"), [(task, "task"), (flow, "flow")])
def test_with_options_rejects_an_unknown_option(decorator: Callable[..., Any], kind: str) -> None:
    made: Made = decorator(work)
    with pytest.raises(TypeError, match=f"unknown {kind} options: nope"):
        made.with_options(nope=1)
