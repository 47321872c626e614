"""Deployments built from flows: entrypoints, parameter schemas, schedules, CLI parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer

from runplane import (
    CollisionStrategy,
    CronSchedule,
    IntervalSchedule,
    RetryPolicy,
    RRuleSchedule,
    RunnerDeployment,
    flow,
)
from runplane._deployments.runner_deployment import flow_entrypoint, parameter_schema
from runplane.cli.deployments import _parameters
from runplane.engine import load_flow


@flow
def greet(name: str, times: int = 2) -> str:
    return name * times


def test_a_flow_under_the_working_directory_gets_an_absolute_path_entrypoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(Path(__file__).parents[2])
    assert flow_entrypoint(greet) == f"{Path(__file__).resolve()}:greet"


def test_the_entrypoint_loads_the_same_flow_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).parents[2])
    entrypoint = flow_entrypoint(greet)
    monkeypatch.chdir(tmp_path)  # a runner started elsewhere on the same machine
    assert load_flow(entrypoint).name == "greet"


def test_elsewhere_the_entrypoint_is_the_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert flow_entrypoint(greet) == f"{greet.fn.__module__}:greet"


def test_the_parameter_schema_comes_from_the_signature() -> None:
    schema = parameter_schema(greet)
    assert schema["required"] == ["name"]
    assert schema["properties"]["times"] == {"default": 2, "title": "Times", "type": "integer"}


def test_a_parameter_without_a_json_schema_keeps_its_name() -> None:
    class Opaque:
        pass

    @flow
    def odd(thing: Opaque) -> None:
        pass

    assert list(parameter_schema(odd)["properties"]) == ["thing"]


def test_to_deployment_builds_every_kind_of_schedule() -> None:
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    deployment = greet.to_deployment(
        "daily",
        cron=["0 9 * * *", "0 18 * * *"],
        interval=90,
        rrule="FREQ=WEEKLY;BYDAY=MO",
        timezone="Europe/Paris",
        anchor_time=anchor,
    )
    schedules = [item.schedule for item in deployment.schedules]
    assert schedules == [
        CronSchedule(expression="0 9 * * *", timezone="Europe/Paris"),
        CronSchedule(expression="0 18 * * *", timezone="Europe/Paris"),
        IntervalSchedule(
            interval=timedelta(seconds=90), anchor_time=anchor, timezone="Europe/Paris"
        ),
        RRuleSchedule(rrule="FREQ=WEEKLY;BYDAY=MO", timezone="Europe/Paris"),
    ]


def test_the_stored_deployment_carries_the_options() -> None:
    deployment = greet.to_deployment(
        "limited",
        parameters={"name": "x"},
        concurrency_limit=2,
        collision_strategy="CANCEL_NEW",
        job_variables={"env": {"A": "1"}},
        tags=["t"],
    )
    model = deployment.to_model("pool")
    assert isinstance(deployment, RunnerDeployment)
    assert (model.flow_name, model.name, model.work_pool_name) == ("greet", "limited", "pool")
    assert model.collision_strategy is CollisionStrategy.CANCEL_NEW
    assert model.enforce_parameter_schema
    assert model.runtime == "python"
    assert (model.parameters, model.job_variables, model.tags) == (
        {"name": "x"},
        {"env": {"A": "1"}},
        ("t",),
    )


def test_the_deployment_takes_the_flow_retries_with_one_delay_per_retry() -> None:
    @flow(retries=3, retry_delay_seconds=[1, 5])
    def flaky() -> None:
        pass

    model = flaky.to_deployment("retrying", entrypoint="m:flaky").to_model("pool")
    assert model.retry_policy == RetryPolicy(retries=3, retry_delay_seconds=(1.0, 5.0, 5.0))
    assert greet.to_deployment("plain").to_model("pool").retry_policy is None


def test_a_deployment_name_with_a_slash_is_refused() -> None:
    with pytest.raises(ValueError, match="contain no '/'"):
        greet.to_deployment("a/b")


def test_cli_parameters_read_json_values_and_fall_back_to_text() -> None:
    assert _parameters(["n=3", "name=bob", "xs=[1, 2]"], '{"a": true}') == {
        "a": True,
        "n": 3,
        "name": "bob",
        "xs": [1, 2],
    }


def test_a_cli_parameter_without_equals_is_refused() -> None:
    with pytest.raises(typer.BadParameter):
        _parameters(["oops"], None)
