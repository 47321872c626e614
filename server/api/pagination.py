"""Opaque keyset page tokens.

A token holds the sort key of the last row served and a fingerprint of the request's
filter, so that a token used with another filter is refused instead of skipping rows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from google.protobuf.message import Message

from runplane.server.api.errors import invalid_argument
from runplane.server.api.validation import CONTROL_CHARACTERS

# Tokens hold at most a few sort keys (names of at most 256 characters), base64-encoded.
MAX_PAGE_TOKEN_LENGTH = 2048


def filter_fingerprint(*parts: Message | str | None) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Message):
            digest.update(part.SerializeToString(deterministic=True))
        elif part is not None:
            digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def encode_token(key: list[Any], fingerprint: str) -> str:
    raw = json.dumps({"k": key, "f": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


T = TypeVar("T")


def cut_page(
    rows: Sequence[T], limit: int, fingerprint: str, key: Callable[[T], list[Any]]
) -> tuple[list[T], str]:
    """The page out of ``limit + 1`` fetched rows, and the token of the next page ("" if last)."""
    if len(rows) <= limit:
        return list(rows), ""
    page = list(rows[:limit])
    return page, encode_token(key(page[-1]), fingerprint)


def decode_token(field: str, token: str, fingerprint: str) -> list[Any] | None:
    """The sort key after which the page starts, or None for the first page."""
    if not token:
        return None
    if len(token) > MAX_PAGE_TOKEN_LENGTH:
        raise invalid_argument(field, f"must be at most {MAX_PAGE_TOKEN_LENGTH} characters")
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key, token_fingerprint = payload["k"], payload["f"]
    except (ValueError, KeyError, TypeError):
        raise invalid_argument(field, "is not a token returned by this server") from None
    if token_fingerprint != fingerprint or not isinstance(key, list):
        raise invalid_argument(field, "belongs to a request with other parameters")
    # The keys this server writes are names and times, never with control characters.
    if any(isinstance(part, str) and CONTROL_CHARACTERS.search(part) for part in key):
        raise invalid_argument(field, "is not a token returned by this server")
    return key


def name_after(field: str, token: str, fingerprint: str) -> str | None:
    """The name a page token continues after, for lists ordered by a unique name."""
    key = decode_token(field, token, fingerprint)
    if key is None:
        return None
    if len(key) != 1 or not isinstance(key[0], str):
        raise invalid_argument(field, "is not a token returned by this server")
    return key[0]


def time_and_id_after(
    field: str, token: str, fingerprint: str
) -> tuple[datetime, uuid.UUID] | None:
    """The (time, id) a page token continues after, for lists newest first by (time, id)."""
    key = decode_token(field, token, fingerprint)
    if key is None:
        return None
    try:
        return datetime.fromisoformat(str(key[0])), uuid.UUID(str(key[1]))
    except (ValueError, IndexError):
        raise invalid_argument(field, "is not a token returned by this server") from None


def time_and_id_key(time: datetime, row_id: uuid.UUID) -> list[str]:
    """The page key of a row in a list newest first by (time, id)."""
    return [time.isoformat(), str(row_id)]
