"""New run ids: version 7 UUIDs, ordered by the millisecond they were made in."""

from __future__ import annotations

import time
import uuid

from runplane.server.db.ids import time_ordered_uuid


def test_an_id_is_a_version_7_uuid_of_now() -> None:
    before = time.time_ns() // 1_000_000
    made = time_ordered_uuid()
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_ids_of_later_milliseconds_sort_after_earlier_ones() -> None:
    first = time_ordered_uuid()
    deadline = time.monotonic() + 1
    while (later := time_ordered_uuid()).int >> 80 == first.int >> 80:
        assert time.monotonic() < deadline, "the clock did not move in a second"
    assert later > first
    assert str(later) > str(first)  # as text too, as SQLite and the API compare them


def test_ids_made_in_one_millisecond_differ() -> None:
    made = [time_ordered_uuid() for _ in range(10_000)]
    assert len(set(made)) == len(made)
