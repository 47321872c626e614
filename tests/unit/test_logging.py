"""Run loggers, print capture, truncation and the batching log shipper (with a fake sink)."""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence

import pytest

from runplane import LogRecord, Unavailable
from runplane._client.errors import InvalidArgument
from runplane._runtime.context import (
    FlowRunContext,
    TaskRunContext,
    flow_run_context,
    task_run_context,
)
from runplane._runtime.run_logs import (
    FLOW_RUN_LOGGER,
    MAX_MESSAGE_BYTES,
    TASK_RUN_LOGGER,
    APILogHandler,
    LogShipper,
    MissingRunContext,
    capture_prints,
    get_run_logger,
    install_log_shipping,
    truncate_message,
    uninstall_log_shipping,
)

FLOW_RUN = uuid.uuid4()
TASK_RUN = uuid.uuid4()


class Sink:
    """Collects batches; can fail a number of times first."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.batches: list[list[LogRecord]] = []
        self.failures = failures
        self.error = error or Unavailable("server down")
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, records: Sequence[LogRecord]) -> int:
        with self.lock:
            self.calls += 1
            if self.failures:
                self.failures -= 1
                raise self.error
            self.batches.append(list(records))
        return len(records)

    @property
    def records(self) -> list[LogRecord]:
        return [record for batch in self.batches for record in batch]


@pytest.fixture
def in_flow() -> Iterator[None]:
    token = flow_run_context.set(FlowRunContext(flow_run_id=FLOW_RUN, flow_name="etl"))
    yield
    flow_run_context.reset(token)


@pytest.fixture
def in_task(in_flow: None) -> Iterator[None]:
    context = TaskRunContext(task_run_id=TASK_RUN, task_name="load", flow_run_id=FLOW_RUN)
    token = task_run_context.set(context)
    yield
    task_run_context.reset(token)


def record(message: str = "hello", run: uuid.UUID = FLOW_RUN) -> LogRecord:
    return LogRecord(flow_run_id=run, level=20, message=message)


def test_get_run_logger_outside_a_run_explains() -> None:
    with pytest.raises(MissingRunContext, match="only inside a flow or task run"):
        get_run_logger()


@pytest.mark.usefixtures("in_task")
def test_task_logger_carries_both_ids() -> None:
    logger = get_run_logger(stage="x")
    assert logger.logger.name == TASK_RUN_LOGGER
    assert logger.extra is not None
    assert logger.extra["flow_run_id"] == FLOW_RUN
    assert logger.extra["task_run_id"] == TASK_RUN
    assert logger.extra["stage"] == "x"


@pytest.mark.usefixtures("in_flow")
def test_flow_logger_records_are_shipped_with_the_run_id() -> None:
    sink = Sink()
    shipper = LogShipper(sink)
    handler = APILogHandler(shipper)
    logger = logging.getLogger(FLOW_RUN_LOGGER)
    logger.addHandler(handler)
    try:
        get_run_logger().warning("disk at %d%%", 91, extra={"n": 1})
        get_run_logger().info("local only", extra={"send_to_api": False})
        assert shipper.flush(timeout=10)
    finally:
        logger.removeHandler(handler)
        shipper.close()
    [shipped] = sink.records
    assert shipped.message == "disk at 91%"
    assert shipped.level == logging.WARNING
    assert shipped.flow_run_id == FLOW_RUN
    assert shipped.task_run_id is None
    assert shipped.logger_name == FLOW_RUN_LOGGER


def test_records_outside_runs_are_ignored_by_the_handler() -> None:
    sink = Sink()
    shipper = LogShipper(sink)
    handler = APILogHandler(shipper)
    handler.handle(logging.LogRecord("x", logging.INFO, __file__, 1, "no run", None, None))
    assert shipper.flush(timeout=10)
    shipper.close()
    assert sink.calls == 0


def test_truncation_keeps_the_limit_and_says_so() -> None:
    assert truncate_message("short") == "short"
    long = "é" * MAX_MESSAGE_BYTES
    cut = truncate_message(long)
    assert len(cut.encode()) <= MAX_MESSAGE_BYTES
    assert cut.startswith("éé")
    assert cut.endswith(" bytes]")
    assert "[truncated " in cut


def test_oversized_records_are_truncated_before_shipping() -> None:
    sink = Sink()
    shipper = LogShipper(sink)
    shipper.put(record("x" * (3 * MAX_MESSAGE_BYTES)))
    shipper.close()
    [shipped] = sink.records
    assert len(shipped.message.encode()) <= MAX_MESSAGE_BYTES
    assert "[truncated " in shipped.message


def test_flush_sends_everything_queued_in_batches() -> None:
    sink = Sink()
    shipper = LogShipper(sink, interval=60, max_batch=100)
    for index in range(250):
        shipper.put(record(str(index)))
    assert shipper.flush(timeout=10)
    assert [r.message for r in sink.records] == [str(i) for i in range(250)]
    assert all(len(batch) <= 100 for batch in sink.batches)
    shipper.close()


def test_a_full_batch_is_sent_without_waiting_for_the_interval() -> None:
    sink = Sink()
    sent = threading.Event()

    def write(records: Sequence[LogRecord]) -> int:
        sink(records)
        sent.set()
        return len(records)

    shipper = LogShipper(write, interval=60, max_batch=10)
    for _ in range(10):
        shipper.put(record())
    assert sent.wait(10)
    assert len(sink.batches[0]) == 10
    shipper.close()


def test_a_transient_failure_is_retried() -> None:
    sink = Sink(failures=2)
    shipper = LogShipper(sink, retry_delays=(0.01, 0.01, 0.01))
    shipper.put(record("kept"))
    assert shipper.flush(timeout=10)
    shipper.close()
    assert [r.message for r in sink.records] == ["kept"]
    assert sink.calls == 3


def test_an_unreachable_server_is_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    sink = Sink(failures=100)
    shipper = LogShipper(sink, retry_delays=(0.01, 0.01))
    shipper.put(record("lost"))
    assert shipper.flush(timeout=10)
    shipper.put(record("later"))
    shipper.close()
    err = capsys.readouterr().err
    assert "1 log record(s) could not be sent" in err
    assert "Unavailable: server down" in err
    assert sink.calls == 6


def test_one_refused_run_does_not_lose_the_others_logs(capsys: pytest.CaptureFixture[str]) -> None:
    bad = uuid.uuid4()

    def write(records: Sequence[LogRecord]) -> int:
        if any(r.flow_run_id == bad for r in records):
            raise InvalidArgument("flow run not found")
        good.extend(records)
        return len(records)

    good: list[LogRecord] = []
    shipper = LogShipper(write)
    shipper.put(record("a"))
    shipper.put(record("b", run=bad))
    shipper.put(record("c"))
    shipper.close()
    assert [r.message for r in good] == ["a", "c"]
    assert "1 log record(s) could not be sent" in capsys.readouterr().err


def test_records_after_close_are_ignored() -> None:
    sink = Sink()
    shipper = LogShipper(sink)
    shipper.close()
    shipper.put(record())
    assert shipper.flush(timeout=1)
    assert sink.calls == 0


@pytest.mark.usefixtures("in_task")
def test_prints_inside_a_run_go_to_the_run_logger(capsys: pytest.CaptureFixture[str]) -> None:
    sink = Sink()
    shipper = install_log_shipping(sink)
    try:
        with capture_prints():
            print("rows:", 3)
            print("to stderr", file=sys.stderr)
            with capture_prints(enabled=False):
                print("plain")
        print("after")
        assert shipper.flush(timeout=10)
    finally:
        uninstall_log_shipping(shipper)
    assert [r.message for r in sink.records] == ["rows: 3"]
    assert sink.records[0].task_run_id == TASK_RUN
    out = capsys.readouterr()
    assert "plain\nafter\n" in out.out
    assert "rows: 3" not in out.out
    assert "rows: 3" in out.err  # the console handler shows it
    assert "to stderr" in out.err


def test_capture_prints_outside_a_run_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with capture_prints():
        print("plain")
    assert capsys.readouterr().out == "plain\n"


@pytest.mark.usefixtures("in_task")
def test_prints_in_other_threads_are_untouched(capsys: pytest.CaptureFixture[str]) -> None:
    with capture_prints():
        thread = threading.Thread(target=print, args=("from a thread",))
        thread.start()
        thread.join()
    assert "from a thread" in capsys.readouterr().out


def test_installing_again_replaces_the_handler() -> None:
    first, second = Sink(), Sink()
    one = install_log_shipping(first)
    two = install_log_shipping(second)
    try:
        handlers = logging.getLogger(TASK_RUN_LOGGER).handlers
        assert sum(isinstance(h, APILogHandler) for h in handlers) == 1
        assert one.flush(timeout=1)
    finally:
        uninstall_log_shipping(two)
    assert not any(
        isinstance(h, APILogHandler) for h in logging.getLogger(FLOW_RUN_LOGGER).handlers
    )


class BatchWriter:
    """A client whose first calls fail after the batch was stored (the answer was lost)."""

    def __init__(self, lost_answers: int) -> None:
        self.lost_answers = lost_answers
        self.batch_ids: list[uuid.UUID | None] = []

    def write_logs(self, records: Sequence[LogRecord], *, batch_id: uuid.UUID | None = None) -> int:
        self.batch_ids.append(batch_id)
        if self.lost_answers:
            self.lost_answers -= 1
            raise Unavailable("connection reset")
        return len(records)


def test_a_retried_batch_carries_the_same_batch_id_and_a_new_batch_a_new_one() -> None:
    writer = BatchWriter(lost_answers=2)
    shipper = LogShipper(writer, retry_delays=(0.01, 0.01, 0.01))
    shipper.put(record("first"))
    assert shipper.flush(timeout=10)
    shipper.put(record("second"))
    shipper.close()
    first_batch, second_batch = writer.batch_ids[:3], writer.batch_ids[3:]
    assert len(set(first_batch)) == 1
    assert first_batch[0] is not None
    assert len(second_batch) == 1
    assert second_batch[0] not in first_batch
