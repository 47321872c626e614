"""Limits on stored log lines: an oversized message is cut short with a note, never dropped."""

from __future__ import annotations

MAX_MESSAGE_BYTES = 1_048_576
"""Largest stored message, in UTF-8 bytes, the truncation note included."""


def truncate_message(message: str, max_bytes: int = MAX_MESSAGE_BYTES) -> str:
    """The message itself when it fits; else its start and "... [truncated N bytes]".

    The cut falls on a character boundary, and the note is counted in ``max_bytes`` so
    that a stored message never exceeds the limit.
    """
    encoded = message.encode()
    if len(encoded) <= max_bytes:
        return message
    # The note for the whole message is at least as long as the note finally used.
    reserve = len(_note(len(encoded)).encode())
    kept = encoded[: max(max_bytes - reserve, 0)].decode(errors="ignore")
    dropped = len(encoded) - len(kept.encode())
    return kept + _note(dropped)


def _note(dropped_bytes: int) -> str:
    return f"... [truncated {dropped_bytes} bytes]"
