"""Truncation of oversized log messages."""

from __future__ import annotations

from runplane._log_lines import MAX_MESSAGE_BYTES, truncate_message


def test_a_message_within_the_limit_is_kept_as_is() -> None:
    exact = "x" * MAX_MESSAGE_BYTES
    assert truncate_message(exact) == exact
    assert truncate_message("") == ""


def test_a_long_message_keeps_its_start_and_counts_what_was_cut() -> None:
    message = "abcdefghij" * 10
    cut = truncate_message(message, max_bytes=60)
    kept, note = cut.split("... [truncated ")
    assert message.startswith(kept)
    assert note == f"{len(message) - len(kept)} bytes]"
    assert len(cut.encode()) <= 60


def test_the_cut_never_splits_a_character() -> None:
    message = "€" * 100  # three bytes each
    cut = truncate_message(message, max_bytes=100)
    kept, note = cut.split("... [truncated ")
    assert set(kept) == {"€"}
    assert note == f"{300 - len(kept.encode())} bytes]"
    assert len(cut.encode()) <= 100
