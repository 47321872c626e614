"""JSON text (RFC 8259): how parameters, job variables, variables and inline results travel.

The contract carries these values as JSON text in ``string`` fields rather than as
``google.protobuf.Struct``, whose numbers are all doubles: as text, an integer keeps every
digit and ``1.0`` stays a float. JSON has no NaN or Infinity, so both are refused, and so is a
string holding a lone surrogate (not Unicode text). A refusal of the text itself (malformed,
too large) names the field, such as ``parameters_json``; a refusal of a value in it names the
value's path from the field's name without ``_json``, such as ``parameters.rows[3].score``, as
the parameter schema's checks do. The client and the server use this one module.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "JSONTextError",
    "dumps",
    "dumps_object",
    "json_type",
    "loads",
    "loads_object",
    "value_path",
    "value_root",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A \uD800-\uDFFF escape: the only way JSON text in a protobuf string (valid UTF-8) can
# spell a surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Made once: json.dumps with options builds a new encoder on every call.
_COMPACT = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))


class JSONTextError(ValueError):
    """A value that is not JSON, or JSON text that is not acceptable; ``path`` names where."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class _NotJSON:
    """Stands in, while parsing, for a number JSON cannot hold (NaN, Infinity, 1e999)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def value_path(path: str, key: str | int) -> str:
    """``path.key`` for a name, ``path[3]`` for an index, ``path["a b"]`` for other keys."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _problem(value: Any, path: str) -> tuple[str, str] | None:
    """The path and problem of the first value in ``value`` that JSON text cannot carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, f"{value!r} is not a JSON number (JSON has no NaN or Infinity)"
    if isinstance(value, _NotJSON):
        return path, f"{value.text} is not a JSON number (JSON has no NaN or Infinity)"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path, "holds a lone surrogate, which is not Unicode text"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _problem(item, value_path(path, str(key)))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _problem(item, value_path(path, index))
            if found is not None:
                return found
    return None


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def value_root(field: str) -> str:
    """The path of the value a ``*_json`` field holds: ``parameters`` for ``parameters_json``."""
    return field.removesuffix("_json")


def dumps(value: Any, field: str) -> str:
    """``value`` as compact JSON text; ``JSONTextError`` names what JSON cannot hold."""
    path = value_root(field)
    try:
        text = _COMPACT.encode(value)
    except (TypeError, ValueError) as error:
        found = _problem(value, path)
        if found is not None:
            raise JSONTextError(*found) from None
        raise JSONTextError(path, str(error)) from None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate, written out as it is (ensure_ascii=False): find where.
            found = _problem(value, path)
            raise JSONTextError(*(found or (path, "is not Unicode text"))) from None
    return text


def dumps_object(value: Mapping[str, Any] | None, field: str) -> str:
    """A JSON object as text; None and an empty mapping are ``{}``."""
    return dumps(dict(value) if value else {}, field)


def loads(text: str, field: str, max_bytes: int) -> Any:
    """The value of JSON text of at most ``max_bytes`` (UTF-8), parsed strictly.

    NaN, Infinity and numbers too large for a float are refused rather than read as floats,
    and so are lone surrogates; integers keep every digit (up to Python's limit of 4,300).
    """
    size = len(text.encode("utf-8")) if not text.isascii() else len(text)
    if size > max_bytes:
        raise JSONTextError(field, f"must be at most {max_bytes} bytes of JSON text")
    flagged = False

    def constant(name: str) -> _NotJSON:
        nonlocal flagged
        flagged = True
        return _NotJSON(name)

    def number(digits: str) -> float | _NotJSON:
        parsed = float(digits)
        return parsed if math.isfinite(parsed) else constant(digits)

    try:
        value = json.loads(text, parse_constant=constant, parse_float=number)
    except RecursionError:
        raise JSONTextError(field, "is nested too deeply") from None
    except ValueError as error:
        raise JSONTextError(field, f"is not valid JSON text: {error}") from None
    if flagged or _SURROGATE_ESCAPE.search(text):
        found = _problem(value, value_root(field))
        if found is not None:
            raise JSONTextError(*found)
    return value


def loads_object(text: str, field: str, max_bytes: int) -> dict[str, Any]:
    """A JSON object from text; the empty string is ``{}``."""
    if not text:
        return {}
    value = loads(text, field, max_bytes)
    if not isinstance(value, dict):
        raise JSONTextError(field, f"must be a JSON object, not {json_type(value)}")
    return value
