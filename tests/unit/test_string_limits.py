"""Every string a request can carry has a documented maximum."""

from __future__ import annotations

from proto_support import IGNORED, MAXIMUM, field_comments, request_string_fields


def test_the_walk_finds_the_strings_of_nested_messages_and_map_keys() -> None:
    fields = request_string_fields()
    assert (".runplane.v1.State", "message") in fields
    assert (".runplane.v1.TaskRunSpec", "inputs") in fields
    assert (".runplane.v1.CronSchedule", "timezone") in fields
    assert len(fields) > 100


def test_every_string_field_of_every_request_states_its_maximum() -> None:
    comments = field_comments()
    undocumented = [
        f"{message.removeprefix('.runplane.v1.')}.{field}: {comments.get((message, field))!r}"
        for message, field in request_string_fields()
        if not (
            MAXIMUM.search(comments.get((message, field), ""))
            or IGNORED.search(comments.get((message, field), ""))
        )
    ]
    assert undocumented == [], (
        'say "at most N characters" (or "ignored in requests") in the comment of each'
    )
