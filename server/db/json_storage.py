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
from decimal import Decimal
from typing import Any

__all__ = ["dumps"]


def dumps(value: Any) -> str:
    """The JSON text of ``value`` for a JSON column (NaN and Infinity are refused)."""
    text = json.dumps(value, allow_nan=False)
    if "e+" not in text and "e-" not in text:
        return text  # no float in exponent form (a string may hold these letters: rare)
    return _positional(value)


def _positional(value: Any) -> str:
    if isinstance(value, float):
        text = repr(value)
        if "e" not in text:
            return text
        digits = format(Decimal(text), "f")
        return digits if "." in digits else f"{digits}.0"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(key))}: {_positional(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_positional(item) for item in value) + "]"
    return json.dumps(value, allow_nan=False)
