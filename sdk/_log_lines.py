"""The size limit of one log line, and how an oversized message is cut short with a note.

The SDK cuts a message before shipping it and the server cuts what a client sent over the
limit before storing it: both use this one module, so that a stored line reads the same
wherever it was cut.
"""

from __future__ import annotations

__all__ = ["MAX_MESSAGE_BYTES", "truncate_message"]

MAX_MESSAGE_BYTES = 1_048_576
"""Largest log message shipped and stored, in UTF-8 bytes, the truncation note included."""


def truncate_message(message: str, max_bytes: int = MAX_MESSAGE_BYTES) -> str:
    """The message itself when it fits in ``max_bytes`` UTF-8 bytes; else its start and
    "... [truncated N bytes]", N being the bytes cut.

    The cut falls on a character boundary, and the note is counted in ``max_bytes``, so that
    the result never exceeds the limit. A lone surrogate (Python strings may hold one) counts
    as the one byte it is replaced with.
    """
    encoded = message.encode(errors="replace")
    if len(encoded) <= max_bytes:
        return message
    # The note for the whole message is at least as long as the note finally used.
    reserve = len(_note(len(encoded)).encode())
    kept = encoded[: max(max_bytes - reserve, 0)].decode(errors="ignore")
    return kept + _note(len(encoded) - len(kept.encode()))


def _note(dropped_bytes: int) -> str:
    return f"... [truncated {dropped_bytes} bytes]"
