"""The NOTIFY payloads of server processes: versioned JSON, and what a server ignores."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from runplane.server import cluster_notices
from runplane.server.cluster_notices import (
    MAX_PAYLOAD_BYTES,
    Cancelling,
    LogsWritten,
    Notice,
    PoolsAnnounced,
    SlotsFreed,
    StatesWritten,
    WorkDue,
    decode,
    encode,
    logs_written,
    states_written,
)

RUN = uuid.UUID("6f1c1a8e-4a1b-4c55-9d1e-0b8f2a3c4d5e")
NOTICES: list[Notice] = [
    WorkDue(sender="a1", pool="etl"),
    WorkDue(sender="a1"),
    SlotsFreed(sender="a1"),
    Cancelling(sender="a1", run_id=RUN),
    PoolsAnnounced(sender="a1", n=3, pools=["etl", "ml"], limited=["ml"], runtimes={"ml": ["x"]}),
    StatesWritten(sender="a1", state_ids=[RUN, uuid.uuid4()]),
    LogsWritten(sender="a1", ranges=[(RUN, 5, 9)]),
]


@pytest.mark.parametrize("notice", NOTICES, ids=lambda n: n.kind)
def test_every_kind_round_trips(notice: Notice) -> None:
    payload = encode(notice)
    assert decode(payload) == notice
    message = json.loads(payload)
    assert (message["v"], message["kind"], message["sender"]) == (1, notice.kind, "a1")


def test_fields_a_newer_server_adds_within_a_version_are_ignored() -> None:
    message = {**json.loads(encode(NOTICES[0])), "priority": 7}
    assert decode(json.dumps(message)) == NOTICES[0]


@pytest.mark.parametrize(
    "payload",
    [
        '{"v": 2, "kind": "work", "sender": "a1", "pool": "etl"}',
        '{"kind": "work", "sender": "a1"}',
        '{"v": 1, "kind": "teleport", "sender": "a1"}',
        '{"v": 1, "kind": "cancelling", "sender": "a1", "run_id": "not an id"}',
        '{"v": 1, "kind": "states", "sender": "a1"}',
        '{"v": 1',
        "[1, 2]",
        "",
        "\x00\xff garbage",
        "z a1 something",
        "c a1 not-an-id",
    ],
)
def test_unknown_versions_kinds_and_garbage_are_ignored(payload: str) -> None:
    assert decode(payload) is None


def test_an_ignored_reason_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    cluster_notices._REPORTED.clear()
    with caplog.at_level(logging.DEBUG, logger=cluster_notices.__name__):
        for _ in range(3):
            decode('{"v": 99, "kind": "work", "sender": "a1"}')
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "version 99" in caplog.records[0].getMessage()


def test_the_one_letter_form_of_older_servers_is_understood() -> None:
    other = uuid.uuid4()
    assert decode("w a1 etl") == WorkDue(sender="a1", pool="etl")
    assert decode("w a1 ") == WorkDue(sender="a1")
    assert decode("f a1") == SlotsFreed(sender="a1")
    assert decode(f"c a1 {RUN}") == Cancelling(sender="a1", run_id=RUN)
    assert decode('p a1 {"n": 2, "pools": ["etl"]}') == PoolsAnnounced(
        sender="a1", n=2, pools=["etl"]
    )
    assert decode(f"s a1 {RUN} junk {other}") == StatesWritten(sender="a1", state_ids=[RUN, other])
    assert decode(f"l a1 {RUN}:5:9 junk") == LogsWritten(sender="a1", ranges=[(RUN, 5, 9)])


def test_long_lists_are_cut_into_payloads_that_fit() -> None:
    ids = [uuid.uuid4() for _ in range(1000)]
    ranges = [(uuid.uuid4(), i, i + 10**12) for i in range(500)]
    for sent in (states_written("a1", ids), logs_written("a1", ranges)):
        assert len(sent) > 1
        assert all(len(p.encode()) <= MAX_PAYLOAD_BYTES < 8000 for p in sent)
        # Filled: the next item would not have fitted.
        assert all(len(p) > MAX_PAYLOAD_BYTES - 60 for p in sent[:-1])
    decoded = [decode(p) for p in states_written("a1", ids)]
    assert [i for n in decoded if isinstance(n, StatesWritten) for i in n.state_ids] == ids
    decoded_logs = [decode(p) for p in logs_written("a1", ranges)]
    assert [r for n in decoded_logs if isinstance(n, LogsWritten) for r in n.ranges] == ranges
