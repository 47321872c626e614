"""JSON text as the contract carries it, and JSON as the columns store it."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from runplane._client import json_text
from runplane.server.db import json_storage


@pytest.mark.parametrize(
    "value",
    [1.0, 1, 2**53 + 1, 10**30, -0.0, 1e16, 5e-324, "h\u00e9llo \U0001f600", None, [1, 1.0]],
)
def test_values_come_back_with_their_types(value: Any) -> None:
    back = json_text.loads(json_text.dumps(value, "value_json"), "value_json", 1024)
    assert type(back) is type(value)
    assert back == value
    if isinstance(value, float):
        assert math.copysign(1, back) == math.copysign(1, value)  # -0.0 keeps its sign


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"x": math.nan}, "parameters.x"),
        ({"rows": [{}, {}, {}, {"score": math.inf}]}, "parameters.rows[3].score"),
        ({"odd key": (-math.inf,)}, 'parameters["odd key"][0]'),
        ({"s": "\ud800"}, "parameters.s"),
    ],
)
def test_what_json_cannot_hold_is_named_by_its_path(value: Any, path: str) -> None:
    with pytest.raises(json_text.JSONTextError) as caught:
        json_text.dumps(value, "parameters_json")
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"x": NaN}', "parameters.x"),
        ('{"x": [1, -Infinity]}', "parameters.x[1]"),
        ('{"x": 1e400}', "parameters.x"),
        ('{"x": "\\udc00"}', "parameters.x"),
        ('{"x": ', "parameters_json"),
        ('"text"', "parameters_json"),
        ('{"x": "' + "y" * 100 + '"}', "parameters_json"),
        ("[" * 100_000, "parameters_json"),
    ],
)
def test_bad_text_is_refused_naming_the_field_or_the_value(text: str, path: str) -> None:
    with pytest.raises(json_text.JSONTextError) as caught:
        json_text.loads_object(text, "parameters_json", 10**6 if text.startswith("[[") else 100)
    assert caught.value.path == path


def test_empty_object_text_is_an_empty_object() -> None:
    assert json_text.loads_object("", "parameters_json", 10) == {}


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (1e16, "10000000000000000.0"),
        ({"a": [1e-7, 2.5e300]}, '{"a": [0.0000001, 25' + "0" * 299 + ".0]}"),
        ({"f": 1.0, "i": 10**30}, '{"f": 1.0, "i": 1000000000000000000000000000000}'),
        ({"text": "e+1e-2"}, '{"text": "e+1e-2"}'),
        ({"text": "x 1e-2", "f": 1e-7}, '{"text": "x 1e-2", "f": 0.0000001}'),
        ([-1e-5, "-1e-5"], '[-0.00001, "-1e-5"]'),
        (-1e20, "-100000000000000000000.0"),
        ({"id": "158dc3e-32c44", "x": 1e-7}, '{"id": "158dc3e-32c44", "x": 0.0000001}'),
        (['q"e-', 1e16], '["q\\"e-", 10000000000000000.0]'),
    ],
)
def test_columns_get_floats_without_exponents(value: Any, stored: str) -> None:
    text = json_storage.dumps(value)
    assert text == stored
    assert json.loads(text) == value


@pytest.mark.parametrize(
    "text",
    ['{"id": "0c93e-4a1b"}', '["2e+1"]', '{"1e-07": 1}', "[true, false, null, 1.5, 10]"],
)
def test_exponents_inside_strings_are_not_numbers(text: str) -> None:
    assert not json_storage._has_exponent(text)
