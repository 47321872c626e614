"""Checks of request fields; each failure names the field in an INVALID_ARGUMENT."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf import field_mask_pb2

from runplane._client import json_text
from runplane.server.api.errors import invalid_argument
from runplane.server.db.tables import DEFAULT_RUNTIME

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_NAME_LENGTH = 256
MAX_TAGS = 100
# Parameters, job variables and parameter schemas: objects that ride in every read of a run.
MAX_OBJECT_JSON_BYTES = 1024 * 1024


UUID_LENGTH = 36


def parse_uuid(field: str, value: str) -> uuid.UUID:
    """A required UUID, in its 36-character form (or without the hyphens)."""
    if not value:
        raise invalid_argument(field, "is required")
    if len(value) > UUID_LENGTH:
        raise invalid_argument(field, f"is not a valid UUID: {value[:64]!r}")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise invalid_argument(field, f"is not a valid UUID: {value[:64]!r}") from None


def parse_optional_uuid(field: str, value: str) -> uuid.UUID | None:
    """A UUID that may be left empty."""
    return parse_uuid(field, value) if value else None


def parse_uuids(field: str, values: Iterable[str]) -> list[uuid.UUID]:
    return [parse_uuid(f"{field}[{index}]", value) for index, value in enumerate(values)]


# C0 and C1 control characters and DEL: never part of a name. NUL cannot be stored by
# PostgreSQL, and the others break the lines and tables that names are shown in.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


def check_label(field: str, value: str, max_length: int) -> str:
    """A possibly empty single-line label (a name, a key, a version, a filter on one): at most
    ``max_length`` characters and no control characters. Every identifier passes here."""
    if len(value) > max_length:
        raise invalid_argument(field, f"must be at most {max_length} characters")
    control = CONTROL_CHARACTERS.search(value)
    if control is not None:
        found = f"U+{ord(control[0]):04X} at position {control.start()}"
        raise invalid_argument(field, f"must not hold control characters (found {found})")
    return value


def name_prefix(field: str, value: str) -> str:
    """A filter on the start of names: empty (no filter) or a label no longer than a name."""
    return check_label(field, value, MAX_NAME_LENGTH)


def require_name(field: str, value: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """A required, non-blank name of bounded length, without control characters."""
    if not value or not value.strip():
        raise invalid_argument(field, "must not be empty")
    return check_label(field, value, max_length)


def optional_name(field: str, value: str, max_length: int = MAX_NAME_LENGTH) -> str | None:
    return require_name(field, value, max_length) if value else None


_RUNTIME = re.compile(r"[a-z][a-z0-9._-]{0,62}")
MAX_RUNTIMES = 32


def runtime_name(field: str, value: str) -> str:
    """A runtime such as "python" or "node"; empty means the default, python."""
    if not value:
        return DEFAULT_RUNTIME
    if not _RUNTIME.fullmatch(value):
        raise invalid_argument(
            field,
            "must start with a lowercase letter and hold only lowercase letters, digits, "
            "'.', '_' and '-', at most 63 characters",
        )
    return value


def runtime_names(field: str, values: Sequence[str]) -> tuple[str, ...]:
    """The runtimes a runner runs, each once in the order given; none means python only."""
    if len(values) > MAX_RUNTIMES:
        raise invalid_argument(field, f"at most {MAX_RUNTIMES} runtimes are allowed")
    names = [runtime_name(f"{field}[{i}]", value) for i, value in enumerate(values)]
    return tuple(dict.fromkeys(names)) or (DEFAULT_RUNTIME,)


def check_tags(field: str, tags: Sequence[str]) -> list[str]:
    if len(tags) > MAX_TAGS:
        raise invalid_argument(field, f"at most {MAX_TAGS} tags are allowed")
    for index, tag in enumerate(tags):
        require_name(f"{field}[{index}]", tag)
    return list(tags)


def json_value(field: str, text: str, max_bytes: int) -> Any:
    """The value of a ``*_json`` field: JSON text of at most ``max_bytes``, parsed strictly.

    Malformed text, NaN, Infinity and lone surrogates are refused before anything is written,
    naming the value's path (``parameters.rows[3].score``); integers keep every digit.
    """
    try:
        return json_text.loads(text, field, max_bytes)
    except json_text.JSONTextError as error:
        raise invalid_argument(error.path, error.problem) from None


def json_object(field: str, text: str, max_bytes: int) -> dict[str, Any]:
    """A ``*_json`` field that holds a JSON object; the empty string is ``{}``."""
    try:
        return json_text.loads_object(text, field, max_bytes)
    except json_text.JSONTextError as error:
        raise invalid_argument(error.path, error.problem) from None


def page_size(field: str, value: int) -> int:
    """0 means the default; sizes over the maximum are capped; negative sizes are refused."""
    if value < 0:
        raise invalid_argument(field, "must not be negative")
    if value == 0:
        return DEFAULT_PAGE_SIZE
    return min(value, MAX_PAGE_SIZE)


def enum_value(field: str, value: int, allowed: Iterable[int], *, required: bool = True) -> int:
    """An enum number that this server knows (protobuf keeps unknown numbers as they are)."""
    if value == 0 and required:
        raise invalid_argument(field, "is required")
    if value != 0 and value not in set(allowed):
        raise invalid_argument(field, f"unknown value {value}")
    return value


def update_paths(mask: field_mask_pb2.FieldMask, allowed: Iterable[str]) -> list[str]:
    """The paths of an update's mask, each once and in order; an empty mask or a path not in
    ``allowed`` is refused, naming ``update_mask``."""
    if not mask.paths:
        raise invalid_argument("update_mask", "name at least one field to change")
    known = frozenset(allowed)
    for path in mask.paths:
        if path not in known:
            choices = ", ".join(sorted(known))
            raise invalid_argument("update_mask", f"cannot change {path[:64]!r}; use {choices}")
    return list(dict.fromkeys(mask.paths))


def optional_text(field: str, value: str, max_length: int) -> str:
    """Free text that may be empty, of bounded length; any character is kept, NUL included."""
    if len(value) > max_length:
        raise invalid_argument(field, f"must be at most {max_length} characters")
    return value


def identifier(
    field: str, value: str, pattern: re.Pattern[str], alphabet: str, max_length: int
) -> str:
    """A non-empty name of at most ``max_length`` characters, all matching ``pattern``;
    ``alphabet`` says which, for the error."""
    if not value:
        raise invalid_argument(field, "must not be empty")
    check_label(field, value, max_length)
    if not pattern.fullmatch(value):
        raise invalid_argument(field, f"may hold only {alphabet}")
    return value
