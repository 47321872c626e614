"""Result storage as Prefect users spell it: ``runplane.filesystems.LocalFileSystem``,
``result_storage_key`` templates and ``cache_result_in_memory``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_support import any_engine_api, tagged_runs, task_runs

from runplane import State, StateType, SyncRunplaneClient, flow, tags, task
from runplane._engine.storage_keys import ResultStorageKeyError
from runplane.filesystems import LocalFileSystem

__all__ = ["any_engine_api"]


def _task_states(client: SyncRunplaneClient, tag: str) -> dict[str, State]:
    """The final state of each task run of the tagged flow run, by task run name."""
    (run,) = tagged_runs(client, tag)
    return {r.name: r.state for r in task_runs(client, run.id) if r.state is not None}


def test_local_file_system_holds_the_results_of_tasks_and_flows_that_name_it(
    any_engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    tasks_folder, flows_folder = tmp_path / "tasks", tmp_path / "flows"

    @task(result_storage=LocalFileSystem(basepath=tasks_folder), task_run_name="square")
    def square(x: int) -> int:
        return x * x

    @flow(result_storage=LocalFileSystem(basepath=flows_folder))
    def squares() -> dict[str, int]:
        return {"nine": square(3)}

    with tags("filesystems"):
        state = squares.call_with_state()
    assert state.result() == {"nine": 9}
    assert [path.parent for path in flows_folder.rglob("*") if path.is_file()] == [flows_folder]
    assert len([path for path in tasks_folder.rglob("*") if path.is_file()]) == 1
    # Read back through the server's reference, as any client sees the runs.
    (run,) = tagged_runs(any_engine_api, "filesystems")
    stored = any_engine_api.get_flow_run(run.id).state
    assert stored is not None
    assert stored.result_ref is not None
    assert stored.result_ref.storage == LocalFileSystem(flows_folder).name
    assert stored.result() == {"nine": 9}
    task_state = _task_states(any_engine_api, "filesystems")["square"]
    assert task_state.result() == 9


def test_result_storage_key_puts_a_result_at_the_key_its_template_gives(
    any_engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    @task(
        result_storage=LocalFileSystem(basepath=tmp_path),
        result_serializer="json",
        result_storage_key="{flow_run.flow_name}/{parameters[x]}-{task_run.task_name}.json",
    )
    def keyed(x: int) -> list[int]:
        return [x, x + 1]

    @flow(name="keyed-results")
    def keying() -> list[list[int]]:
        return [keyed(1), keyed.submit(2).result()]

    with tags("storage-key"):
        assert keying() == [[1, 2], [2, 3]]
    assert json.loads((tmp_path / "keyed-results" / "1-keyed.json").read_text()) == [1, 2]
    assert json.loads((tmp_path / "keyed-results" / "2-keyed.json").read_text()) == [2, 3]
    states = _task_states(any_engine_api, "storage-key").values()
    keys = sorted(state.result_ref.key for state in states if state.result_ref is not None)
    assert keys == ["keyed-results/1-keyed.json", "keyed-results/2-keyed.json"]


def test_a_storage_key_that_does_not_fit_the_run_fails_it_naming_the_option(
    any_engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    with pytest.raises(ResultStorageKeyError, match=r"result_storage_key.*\{run_id\}"):
        task(result_storage_key="{run_id}.json")(lambda: 1)

    @task(result_storage=LocalFileSystem(tmp_path), result_storage_key="{parameters[y]}")
    def misnamed(x: int) -> int:
        return x

    @flow
    def misnaming() -> int:
        return misnamed(1)

    with tags("bad-key"):
        state = misnaming.call_with_state()
    assert state.type is StateType.FAILED
    (task_state,) = _task_states(any_engine_api, "bad-key").values()
    assert task_state.type is StateType.FAILED
    assert "result_storage_key '{parameters[y]}'" in task_state.message
    assert "KeyError" in task_state.message


def test_without_cache_result_in_memory_a_result_is_read_back_from_storage(
    any_engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    storage = LocalFileSystem(basepath=tmp_path)

    @task(
        result_storage=storage,
        result_serializer="json",
        result_storage_key="{parameters[name]}.json",
        cache_result_in_memory=False,
    )
    def unkept(name: str) -> dict[str, str]:
        return {"name": name}

    @task(result_storage=storage, result_serializer="json", result_storage_key="kept.json")
    def kept() -> dict[str, str]:
        return {"name": "kept"}

    @flow(result_storage=storage, result_serializer="json", cache_result_in_memory=False)
    def reading() -> list[dict[str, str]]:
        future, in_memory = unkept.submit("unkept"), kept.submit()
        future.wait()
        in_memory.wait()
        # What the futures give now is whatever storage holds.
        (tmp_path / "unkept.json").write_text('{"name": "rewritten"}')
        (tmp_path / "kept.json").write_text('{"name": "rewritten"}')
        return [future.result(), in_memory.result()]

    state = reading.call_with_state()
    assert state.type is StateType.COMPLETED
    assert state.result() == [{"name": "rewritten"}, {"name": "kept"}]
    assert state.result_ref is not None
    # The flow's own state reads storage too: change what it holds, and result() follows.
    (tmp_path / state.result_ref.key).write_text("[]")
    assert state.result() == []
    assert reading() == [{"name": "rewritten"}, {"name": "kept"}]
