"""A background run's arguments: JSON when they survive it, else a reference to a pickle."""

from __future__ import annotations

from pathlib import Path

import pytest

from runplane import TaskWorker, task
from runplane._task_workers.arguments import REFERENCE_KEY, decode_arguments, encode_arguments


def test_json_arguments_are_stored_as_they_are() -> None:
    parameters = {"x": 1, "names": ["a", "b"], "options": {"deep": None}}
    assert encode_arguments(parameters) == parameters
    assert decode_arguments(parameters) == parameters


def test_other_arguments_go_by_reference_and_come_back_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPLANE_HOME", str(tmp_path))
    parameters = {"pair": (1, 2), "when": {3: "three"}, "data": b"\x00raw"}
    stored = encode_arguments(parameters)
    assert list(stored) == [REFERENCE_KEY]
    assert decode_arguments(stored) == parameters


@task
def noop() -> None:
    return None


def test_a_task_worker_needs_tasks_and_a_positive_limit() -> None:
    with pytest.raises(ValueError, match="at least one task"):
        TaskWorker([])
    with pytest.raises(ValueError, match="limit"):
        TaskWorker([noop], limit=0)
