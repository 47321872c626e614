"""How the CLI reads values typed on the command line: strict JSON (RFC 8259), else text."""

from __future__ import annotations

from typing import Any

from runplane._client import json_text

# The command line is no place for megabytes of JSON; the server has its own limits.
_MAX_TEXT_BYTES = 16 * 1024 * 1024


def json_or_text(text: str) -> Any:
    """The JSON value the text spells, else the text itself: ``42`` is a number, ``hello``
    and ``NaN`` (not JSON) are strings."""
    try:
        return json_text.loads(text, "value", _MAX_TEXT_BYTES)
    except json_text.JSONTextError:
        return text


def json_object(text: str, option: str) -> dict[str, Any]:
    """A JSON object typed as an option's value; ``ValueError`` says what is wrong."""
    try:
        return json_text.loads_object(text, option, _MAX_TEXT_BYTES)
    except json_text.JSONTextError as error:
        raise ValueError(str(error)) from None
