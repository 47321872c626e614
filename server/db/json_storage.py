"""How JSON values are written to JSON columns, so that each number reads back as it was.

PostgreSQL keeps a JSONB number as ``numeric``, which forgets how it was written: ``1e+16``
(Python's ``repr`` of the float ``1e16``) comes back as ``10000000000000000``, an integer.
A float written in positional notation with a fraction (``10000000000000000.0``) keeps its
scale and comes back as a float. So every float that ``repr`` would write with an exponent
is written positionally here; integers and other floats are written as ``json.dumps`` does.
SQLite keeps the text as it is, and reads the same values back either way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

__all__ = ["dumps"]

# What ``json.dumps(value, allow_nan=False)`` uses, made once: with any option, json.dumps
# builds a new encoder on every call, and every JSON column value of every write comes here.
_STRICT = json.JSONEncoder(allow_nan=False)
# Skips strings and every other character without making a match object for each: one scan
# in C up to the first ``e+`` or ``e-`` outside a string (only a number's exponent has one).
_EXPONENT_OUTSIDE_STRINGS = re.compile(r'(?:[^"e]++|"(?:[^"\\]++|\\.)*+"|e(?![+-]))*+e[+-]')


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """The JSON text of ``value`` for a JSON column (NaN and Infinity are refused);
    ``default`` turns other objects into JSON values, as in ``json.dumps``."""
    if default is None:
        text = _STRICT.encode(value)
    else:
        text = json.dumps(value, allow_nan=False, default=default)
    if ("e+" not in text and "e-" not in text) or not _has_exponent(text):
        return text  # no float in exponent form
    return _positional(value, default)


def _has_exponent(text: str) -> bool:
    """Whether JSON text holds a number in exponent form: an ``e+`` or ``e-`` outside every
    string (a UUID string such as ``"...c3e-4a1b..."`` holds one inside)."""
    return _EXPONENT_OUTSIDE_STRINGS.match(text) is not None


def _positional(value: Any, default: Callable[[Any], Any] | None) -> str:
    if isinstance(value, float):
        text = repr(value)
        if "e" not in text:
            return text
        digits = format(Decimal(text), "f")
        return digits if "." in digits else f"{digits}.0"
    if isinstance(value, dict):
        items = (
            f"{json.dumps(str(key))}: {_positional(item, default)}" for key, item in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_positional(item, default) for item in value) + "]"
    if value is None or isinstance(value, str | int) or default is None:
        return json.dumps(value)
    return _positional(default(value), default)
