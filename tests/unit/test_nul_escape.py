"""The escaping that lets PostgreSQL store NUL: reversible for every string, a no-op for
strings without NUL or the escape character."""

from __future__ import annotations

import itertools
import json

import pytest

from runplane.server.db.nul_escape import escape_json, escape_text, unescape_json, unescape_text
from runplane.server.db.types import postgres_json_dumps, postgres_json_loads

ALPHABET = ["\x00", "\x10", "0", "a", "\\", "u"]
EVERY_SHORT_STRING = [
    "".join(chars) for length in range(5) for chars in itertools.product(ALPHABET, repeat=length)
]


@pytest.mark.parametrize("text", ["", "plain", "ünïcode ☃", "\\u0000"])
def test_strings_without_nul_or_the_escape_are_stored_as_they_are(text: str) -> None:
    assert escape_text(text) is text
    assert unescape_text(text) is text


def test_every_string_over_nul_the_escape_and_their_neighbours_round_trips() -> None:
    for text in EVERY_SHORT_STRING:
        stored = escape_text(text)
        assert "\x00" not in stored
        assert unescape_text(stored) == text, repr(text)


def test_escaping_keeps_different_strings_different() -> None:
    stored = {escape_text(text) for text in EVERY_SHORT_STRING}
    assert len(stored) == len(EVERY_SHORT_STRING)


def test_json_values_round_trip_with_nul_in_keys_and_nested_values() -> None:
    value = {"a\x00": ["\x10", {"k\x10\x00": "v\x00"}, 1, None, True], "plain": 2.5}
    stored = escape_json(value)
    assert "\\u0000" not in json.dumps(stored)
    assert unescape_json(stored) == value


def test_postgres_json_functions_round_trip_through_text_and_bytes() -> None:
    value = {"a\x00b": ["\x10", "\\u0000", "x"], "n": 1}
    text = postgres_json_dumps(value)
    assert "\x00" not in json.dumps(json.loads(text), ensure_ascii=False)
    assert postgres_json_loads(text) == value
    assert postgres_json_loads(text.encode()) == value
    assert postgres_json_dumps({"plain": "x"}) == json.dumps({"plain": "x"})
