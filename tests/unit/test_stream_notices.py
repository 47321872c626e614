"""The payloads servers send each other about the states and log records they wrote."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from runplane.server.cluster_notices import StatesWritten, decode, states_written
from runplane.server.db.logs import LogRecord
from runplane.server.streams.notices import log_ranges

NOTIFY_LIMIT = 8000


def test_payloads_batch_ids_under_the_notify_limit() -> None:
    ids = [uuid.uuid4() for _ in range(1000)]
    sent = states_written("token", ids)
    assert len(sent) > 1
    assert all(len(p.encode()) < NOTIFY_LIMIT for p in sent)
    notices = [decode(p) for p in sent]
    assert all(isinstance(n, StatesWritten) and n.sender == "token" for n in notices)
    assert [i for n in notices if isinstance(n, StatesWritten) for i in n.state_ids] == ids


def test_no_ids_no_payload() -> None:
    assert states_written("token", []) == []


def test_log_ranges_span_each_runs_records() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)

    def record(record_id: int, run_id: uuid.UUID) -> LogRecord:
        return LogRecord(record_id, run_id, None, 20, "t", "m", now)

    records = [record(5, first), record(6, second), record(7, first), record(9, second)]
    assert sorted(log_ranges(records)) == sorted([(first, 5, 7), (second, 6, 9)])
