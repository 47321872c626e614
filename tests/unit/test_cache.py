"""Cache policies compute stable keys that change exactly when what they watch changes."""

from __future__ import annotations

import dataclasses
import enum
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
import pytest

from runplane._runtime.cache import (
    DEFAULT,
    FLOW_PARAMETERS,
    INPUTS,
    NO_CACHE,
    RUN_ID,
    TASK_SOURCE,
    CacheKeyContext,
    CompoundPolicy,
    hash_parameters,
    policy_from_key_fn,
    task_input_hash,
    task_source_hash,
)

RUN = uuid.UUID("00000000-0000-4000-8000-000000000001")


def context(flow_run_id: uuid.UUID | None = RUN, source: str = "src") -> CacheKeyContext:
    return CacheKeyContext(
        task_key="mod.fn",
        task_source_hash=source,
        flow_run_id=flow_run_id,
        task_run_id=uuid.uuid4(),
    )


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Model(pydantic.BaseModel):
    name: str
    size: int


def test_inputs_keys_are_stable_and_order_insensitive() -> None:
    a = INPUTS.compute_key(context(), {"x": 1, "y": {"b": 2, "a": [1, 2]}})
    b = INPUTS.compute_key(context(), {"y": {"a": [1, 2], "b": 2}, "x": 1})
    assert a == b
    assert a is not None
    assert len(a) == 64


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (1, 2),
        (1, 1.0),
        (1, True),
        ([1], (1,)),
        ("1", 1),
        ({1, 2}, {1, 3}),
        (Color.RED, 1),
        (Point(1, 2), Point(2, 1)),
        (Model(name="a", size=1), Model(name="a", size=2)),
        (b"x", b"y"),
        (uuid.UUID(int=1), uuid.UUID(int=2)),
    ],
)
def test_inputs_keys_change_with_values_and_types(left: Any, right: Any) -> None:
    assert INPUTS.compute_key(context(), {"v": left}) != INPUTS.compute_key(context(), {"v": right})


def test_rich_values_have_a_spelling_stable_across_processes() -> None:
    parameters = {"s": {"b", "a", "c"}, "p": Point(1, 2), "m": Model(name="n", size=3)}
    here = hash_parameters(parameters)
    # A set of strings iterates in a hash-seed dependent order; the key must not.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from test_cache import Point, Model; from runplane._runtime.cache import hash_parameters; "
        "print(hash_parameters({'s': {'c', 'a', 'b'}, 'p': Point(1, 2), "
        "'m': Model(name='n', size=3)}))"
    )
    folder = str(Path(__file__).parent)
    # Both interpreters start at once: the test waits for one start, not two in a row.
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, folder],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        )
        for seed in ("1", "2")
    ]
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=60)
            assert process.returncode == 0, stderr
            assert stdout.strip() == here
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()


def test_other_objects_fall_back_to_their_pickle() -> None:
    class Opaque:
        def __init__(self, n: int) -> None:
            self.n = n

    one = INPUTS.compute_key(context(), {"o": Opaque(1)})
    assert one is not None
    assert one == INPUTS.compute_key(context(), {"o": Opaque(1)})
    assert one != INPUTS.compute_key(context(), {"o": Opaque(2)})


def test_unhashable_inputs_mean_no_caching() -> None:
    assert INPUTS.compute_key(context(), {"lock": threading.Lock()}) is None
    assert DEFAULT.compute_key(context(), {"lock": threading.Lock()}) is None


def test_excluded_inputs_do_not_affect_the_key() -> None:
    policy = INPUTS - "verbose"
    assert policy.compute_key(context(), {"x": 1, "verbose": True}) == policy.compute_key(
        context(), {"x": 1, "verbose": False}
    )
    assert policy.compute_key(context(), {"x": 1}) != policy.compute_key(context(), {"x": 2})


def test_task_source_follows_the_context() -> None:
    assert TASK_SOURCE.compute_key(context(source="a"), {}) == "a"
    assert DEFAULT.compute_key(context(source="a"), {}) != DEFAULT.compute_key(
        context(source="b"), {}
    )


def test_run_id_scopes_keys_to_the_flow_run() -> None:
    assert RUN_ID.compute_key(context(), {}) == str(RUN)
    assert RUN_ID.compute_key(context(flow_run_id=None), {}) is None
    other = uuid.uuid4()
    assert DEFAULT.compute_key(context(), {"x": 1}) != DEFAULT.compute_key(
        context(flow_run_id=other), {"x": 1}
    )
    # The task run id is not part of any key: another run of the task in the flow hits.
    assert DEFAULT.compute_key(context(), {"x": 1}) == DEFAULT.compute_key(context(), {"x": 1})


def test_no_cache_switches_any_combination_off() -> None:
    assert NO_CACHE.compute_key(context(), {}) is None
    assert (INPUTS + NO_CACHE).compute_key(context(), {"x": 1}) is None


def test_sums_flatten_and_keep_order() -> None:
    combined = INPUTS + TASK_SOURCE + RUN_ID
    assert isinstance(combined, CompoundPolicy)
    assert combined.policies == (INPUTS, TASK_SOURCE, RUN_ID)
    assert (INPUTS + TASK_SOURCE).compute_key(context(), {}) != (TASK_SOURCE + INPUTS).compute_key(
        context(), {}
    )


def test_key_functions_are_used_as_returned() -> None:
    seen: list[CacheKeyContext] = []

    def by_city(ctx: CacheKeyContext, parameters: Mapping[str, Any]) -> str | None:
        seen.append(ctx)
        return None if parameters["city"] == "skip" else f"weather-{parameters['city']}"

    policy = policy_from_key_fn(by_city)
    assert policy.compute_key(context(), {"city": "Oslo"}) == "weather-Oslo"
    assert policy.compute_key(context(), {"city": "skip"}) is None
    assert seen[0].task_key == "mod.fn"
    combined = (policy + RUN_ID).compute_key(context(), {"city": "Oslo"})
    assert combined is not None
    assert combined != "weather-Oslo"


def test_a_key_function_returning_a_non_string_is_an_error() -> None:
    policy = policy_from_key_fn(lambda ctx, parameters: 42)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="must return a str or None, not int"):
        policy.compute_key(context(), {})


def test_task_source_hash_tracks_the_code() -> None:
    def first(x: int) -> int:
        return x + 1

    def second(x: int) -> int:
        return x + 2

    assert task_source_hash(first) == task_source_hash(first)
    assert task_source_hash(first) != task_source_hash(second)
    # Built-ins have no source: their qualified name stands in.
    assert task_source_hash(len) == task_source_hash(len)
    assert task_source_hash(len) != task_source_hash(print)


def test_flow_parameters_hash_the_flow_runs_parameters() -> None:
    def with_flow(parameters: Mapping[str, Any] | None) -> CacheKeyContext:
        return dataclasses.replace(context(), flow_parameters=parameters)

    first = FLOW_PARAMETERS.compute_key(with_flow({"day": "mon", "n": 1}), {"x": 1})
    assert first is not None
    assert FLOW_PARAMETERS.compute_key(with_flow({"n": 1, "day": "mon"}), {"x": 2}) == first
    assert FLOW_PARAMETERS.compute_key(with_flow({"day": "tue", "n": 1}), {"x": 1}) != first
    assert FLOW_PARAMETERS.compute_key(with_flow(None), {"x": 1}) is None
    combined = FLOW_PARAMETERS + INPUTS
    assert isinstance(combined, CompoundPolicy)
    one = combined.compute_key(with_flow({"day": "mon"}), {"x": 1})
    assert one is not None
    assert combined.compute_key(with_flow({"day": "mon"}), {"x": 2}) != one
    assert (FLOW_PARAMETERS + NO_CACHE).compute_key(with_flow({"day": "mon"}), {"x": 1}) is None


def test_task_input_hash_watches_task_source_and_arguments() -> None:
    key = task_input_hash(context(), {"x": 1})
    assert key is not None
    assert task_input_hash(context(flow_run_id=None), {"x": 1}) == key  # not the flow run
    assert task_input_hash(context(), {"x": 2}) != key
    assert task_input_hash(context(source="changed"), {"x": 1}) != key
    other_task = dataclasses.replace(context(), task_key="mod.other")
    assert task_input_hash(other_task, {"x": 1}) != key
    assert task_input_hash(context(), {"lock": threading.Lock()}) is None
