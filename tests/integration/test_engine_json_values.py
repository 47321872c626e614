"""Python values keep their types through the SDK: flow parameters, a deployment run's
parameters, variables and small inline results; NaN and Infinity are refused before sending."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
from engine_support import engine_api

from runplane import (
    Deployment,
    FlowRunFilter,
    InvalidArgument,
    SyncRunplaneClient,
    Variable,
    flow,
    run_deployment,
)

__all__ = ["engine_api"]

# A Struct (every number a double) turned 1.0 into 1 and 2**53 + 1 into 2**53.
VALUES: dict[str, Any] = {
    "one_float": 1.0,
    "one": 1,
    "past_double": 2**53 + 1,
    "huge": 10**30,
    "big_float": 1e16,
    "nested": {"rows": [1.5, [2.0, {"z": 3}]], "text": "h\u00e9llo \u2713"},
    "null": None,
}


def same(got: Any, expected: Any, path: str = "value") -> None:
    """Equal, with the same Python types all the way down (``1 == 1.0`` is not enough)."""
    assert type(got) is type(expected), f"{path}: {got!r} is not {expected!r}"
    if isinstance(expected, dict):
        assert got.keys() == expected.keys(), path
        for key in expected:
            same(got[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(got) == len(expected), path
        for index, (item, wanted) in enumerate(zip(got, expected, strict=True)):
            same(item, wanted, f"{path}[{index}]")
    else:
        assert got == expected, f"{path}: {got!r} != {expected!r}"


def test_flow_parameters_and_its_inline_result_keep_their_types(
    engine_api: SyncRunplaneClient,
) -> None:
    @flow(name=f"echo-{uuid.uuid4().hex[:8]}")
    def echo(payload: Any) -> Any:
        return payload

    state = echo(VALUES, return_state=True)
    same(state.result(), VALUES)
    flow_id = engine_api.get_flow_by_name(echo.name).id
    (run,) = engine_api.list_flow_runs(FlowRunFilter(flow_ids=(flow_id,)))
    same(run.parameters, {"payload": VALUES})
    assert run.state is not None
    assert run.state.result_ref is not None
    assert run.state.result_ref.is_inline
    same(run.state.result(), VALUES)


def test_a_deployment_runs_parameters_keep_their_types(engine_api: SyncRunplaneClient) -> None:
    deployment = engine_api.create_deployment(
        Deployment(
            name=f"d-{uuid.uuid4().hex[:8]}",
            flow_name=f"f-{uuid.uuid4().hex[:8]}",
            entrypoint="flows.py:nightly",
            parameters={"default": 2**53 + 1, "ratio": 3.0},
            job_variables={"limit": 10**30},
        )
    )
    same(deployment.parameters, {"default": 2**53 + 1, "ratio": 3.0})
    same(deployment.job_variables, {"limit": 10**30})
    run = run_deployment(
        f"{deployment.flow_name}/{deployment.name}", parameters={"given": 1.0}, timeout=0
    )
    expected = {"default": 2**53 + 1, "ratio": 3.0, "given": 1.0}
    same(run.parameters, expected)
    same(engine_api.get_flow_run(run.id).parameters, expected)


@pytest.mark.parametrize("value", list(VALUES.values()), ids=list(VALUES))
def test_variables_keep_their_types(engine_api: SyncRunplaneClient, value: Any) -> None:
    name = f"var-{uuid.uuid4().hex[:8]}"
    Variable.set(name, value)
    same(Variable.get(name), value)


def test_a_flow_called_with_infinity_is_refused_naming_the_parameter(
    engine_api: SyncRunplaneClient,
) -> None:
    called: list[float] = []

    @flow(name=f"takes-param-{uuid.uuid4().hex[:8]}")
    def takes_param(x: float) -> float:
        called.append(x)
        return x

    with pytest.raises(InvalidArgument) as caught:
        takes_param(float("inf"))
    assert caught.value.field == "parameters.x"
    assert "Infinity" in str(caught.value)
    assert called == []
    every_run = engine_api.list_flow_runs(FlowRunFilter(), page_size=200)
    assert [run for run in every_run if run.flow_name == takes_param.name] == []


@pytest.mark.parametrize(
    ("value", "field"),
    [(math.nan, "value"), ({"rows": [{"score": -math.inf}]}, "value.rows[0].score")],
)
def test_a_variable_with_nan_is_refused_before_sending(
    engine_api: SyncRunplaneClient, value: Any, field: str
) -> None:
    name = f"var-{uuid.uuid4().hex[:8]}"
    with pytest.raises(InvalidArgument) as caught:
        Variable.set(name, value)
    assert caught.value.field == field
    assert Variable.get(name) is None
