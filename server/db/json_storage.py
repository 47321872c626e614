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

# Where a number in exponent form may be: a digit, then ``e`` and a digit or sign. Inside
# strings this is common (``…93e-4a…`` in a UUID); ``_has_exponent`` tells those apart.
_CANDIDATE = re.compile(r"[0-9][eE][-+0-9]")
_MANTISSA = "0123456789."


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """The JSON text of ``value`` for a JSON column (NaN and Infinity are refused);
    ``default`` turns other objects into JSON values, as in ``json.dumps``."""
    text = json.dumps(value, allow_nan=False, default=default)
    if not _has_exponent(text):
        return text
    return _positional(value, default)


def _has_exponent(text: str) -> bool:
    """Whether ``text`` (``json.dumps`` output) may hold a number in exponent form.

    True for every such number; rarely also for a string holding something like `` 1e-7``,
    which only costs the slower exact encoding. Looking for ``e-`` alone matched nearly every
    batch of rows, since ids hold it, and rewrote them all.
    """
    for match in _CANDIDATE.finditer(text):
        start = match.start()
        while start > 0 and text[start - 1] in _MANTISSA:
            start -= 1
        if start > 0 and text[start - 1] == "-":
            start -= 1
        # json.dumps writes a number first, after "[" or after ", " / ": ".
        if start == 0 or text[start - 1] in "[ ":
            return True
    return False


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
