"""Reversible escaping of NUL for PostgreSQL, which cannot store it.

PostgreSQL refuses U+0000 in ``text`` columns and in ``jsonb`` strings and keys, where SQLite
stores any string. So that free text and JSON values read back exactly as written on both,
text bound for PostgreSQL is escaped with DLE (U+0010, "data link escape"):

- U+0000 is written as DLE followed by ``0``;
- DLE itself is written as two DLEs;

and read back the other way. Strings holding neither character, nearly all of them, are
written and read unchanged, and the check for them is one substring search each way.
Identifiers (names, tags, keys and the filters on them) never hold either character,
because the API refuses control characters in them, so equality and prefix filters on
identifier columns need no escaping.
"""

from __future__ import annotations

import re
from typing import Any

NUL = "\x00"
ESCAPE = "\x10"
_ESCAPED = re.compile("\x10([\x100])")
_UNESCAPED = {ESCAPE: ESCAPE, "0": NUL}


def escape_text(value: str) -> str:
    """``value`` as PostgreSQL can store it."""
    if NUL not in value and ESCAPE not in value:
        return value
    return value.replace(ESCAPE, ESCAPE + ESCAPE).replace(NUL, ESCAPE + "0")


def unescape_text(value: str) -> str:
    """The string that `escape_text` stored as ``value``."""
    if ESCAPE not in value:
        return value
    return _ESCAPED.sub(lambda match: _UNESCAPED[match[1]], value)


def escape_json(value: Any) -> Any:
    """A JSON value with every string in it, keys included, escaped by `escape_text`."""
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, dict):
        return {escape_text(key): escape_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [escape_json(item) for item in value]
    return value


def unescape_json(value: Any) -> Any:
    """The JSON value that `escape_json` stored as ``value``."""
    if isinstance(value, str):
        return unescape_text(value)
    if isinstance(value, dict):
        return {unescape_text(key): unescape_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unescape_json(item) for item in value]
    return value
