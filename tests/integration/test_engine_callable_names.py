"""``flow_run_name`` and ``task_run_name`` callables read the parameters through ``runtime``."""

from __future__ import annotations

from engine_support import any_engine_api, tagged_runs, task_runs

from runplane import SyncRunplaneClient, flow, runtime, tags, task

__all__ = ["any_engine_api"]


def flow_name_of_parameters() -> str:
    parameters = runtime.flow_run.parameters
    return f"{parameters['region']}-{parameters['day']}"


def task_name_of_parameters() -> str:
    flow_parameters = runtime.flow_run.parameters
    return f"{runtime.task_run.parameters['table']}@{flow_parameters['region']}"


@task(task_run_name=task_name_of_parameters)
def load(table: str) -> str:
    return runtime.task_run.name or ""


@flow(flow_run_name=lambda: f"inner-{runtime.flow_run.parameters['part']}")
def inner(part: int) -> str | None:
    return runtime.flow_run.name


@flow(flow_run_name=flow_name_of_parameters)
def nightly(region: str, day: str) -> list[str | None]:
    tables = [load("users"), load.submit("orders").result()]
    return [*tables, inner(7), runtime.flow_run.name]


def test_callable_names_are_stored(any_engine_api: SyncRunplaneClient) -> None:
    with tags("callable-names"):
        seen = nightly("eu", "monday")
    assert seen == ["users@eu", "orders@eu", "inner-7", "eu-monday"]
    runs = {run.name: run for run in tagged_runs(any_engine_api, "callable-names")}
    assert set(runs) == {"eu-monday", "inner-7"}
    names = {task_run.name for task_run in task_runs(any_engine_api, runs["eu-monday"].id)}
    assert {"users@eu", "orders@eu"} <= names


def test_a_name_callable_sees_no_run_id_before_its_run_exists(
    any_engine_api: SyncRunplaneClient,
) -> None:
    seen: list[object] = []

    def name() -> str:
        seen.append(runtime.flow_run.id)
        return "named"

    @flow(flow_run_name=name)
    def unnamed() -> None:
        seen.append(runtime.flow_run.name)

    unnamed()
    assert seen == [None, "named"]
