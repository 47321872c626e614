"""Run logs: a logger bound to the current run, and the shipping of its records to the API.

``get_run_logger()`` returns a logger whose records carry the flow run and task run ids.
``APILogHandler`` hands every record that carries run ids (or is logged inside a run) to
a ``LogShipper``, whose background thread sends batches through ``write_logs``: every
second, or as soon as 1,000 records (or about 4 MB) are waiting, and whenever
``flush()`` is called. Shipping never raises into user code: a batch the server keeps
refusing or cannot take is reported on stderr and dropped.

``install_log_shipping(client)`` wires it all up for the engine; ``capture_prints()``
sends ``print`` output inside a run to the run logger (``log_prints=True``).
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import logging
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from runplane._client.models import LogRecord
from runplane._log_lines import MAX_MESSAGE_BYTES, truncate_message
from runplane._runtime.context import current_run_ids, flow_run_context, task_run_context

__all__ = [
    "FLOW_RUN_LOGGER",
    "MAX_MESSAGE_BYTES",
    "TASK_RUN_LOGGER",
    "APILogHandler",
    "LogShipper",
    "MissingRunContext",
    "capture_prints",
    "get_run_logger",
    "install_log_shipping",
    "truncate_message",
    "uninstall_log_shipping",
]

FLOW_RUN_LOGGER = "runplane.flow_runs"
TASK_RUN_LOGGER = "runplane.task_runs"
MAX_BATCH_RECORDS = 1_000
MAX_BATCH_BYTES = 4 * 1_048_576
"""Keeps each WriteLogs request well under the 16 MB gRPC message limit."""


class MissingRunContext(RuntimeError):
    """A run logger was asked for outside a flow run or task run."""


class RunLoggerAdapter(logging.LoggerAdapter[logging.Logger]):
    """Adds the run ids to every record; per-call ``extra`` is merged, not replaced."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def get_run_logger(**extra: Any) -> RunLoggerAdapter:
    """A logger for the current task run, else the current flow run; its records are shipped.

    Raises ``MissingRunContext`` outside a run. ``extra`` adds attributes to every record.
    """
    task = task_run_context.get()
    if task is not None:
        fields = {
            "flow_run_id": task.flow_run_id,
            "task_run_id": task.task_run_id,
            "task_run_name": task.task_name,
        }
        return RunLoggerAdapter(logging.getLogger(TASK_RUN_LOGGER), {**fields, **extra})
    flow = flow_run_context.get()
    if flow is not None:
        fields = {"flow_run_id": flow.flow_run_id, "task_run_id": None, "flow_name": flow.flow_name}
        return RunLoggerAdapter(logging.getLogger(FLOW_RUN_LOGGER), {**fields, **extra})
    raise MissingRunContext(
        "get_run_logger() works only inside a flow or task run; "
        "use logging.getLogger(__name__) elsewhere"
    )


@runtime_checkable
class LogWriter(Protocol):
    """What ships a batch: ``SyncRunplaneClient.write_logs`` or any such callable."""

    def write_logs(
        self, records: Sequence[LogRecord], *, batch_id: uuid.UUID | None = None
    ) -> int: ...


WriteLogs = Callable[[Sequence[LogRecord]], object]
_WriteBatch = Callable[[Sequence[LogRecord], uuid.UUID], object]


class LogShipper:
    """Queues records and sends them in batches from a daemon thread.

    ``client`` is a ``SyncRunplaneClient`` (or anything with ``write_logs``) or a callable
    taking a list of ``LogRecord``. A failed batch is retried after each of
    ``retry_delays`` seconds; then it is reported on stderr and dropped. The shipper
    does not close the client.
    """

    def __init__(
        self,
        client: LogWriter | WriteLogs,
        *,
        interval: float = 1.0,
        max_batch: int = MAX_BATCH_RECORDS,
        retry_delays: Sequence[float] = (0.2, 1.0, 2.0),
    ) -> None:
        self._write = _batch_writer(client)
        self._interval = interval
        self._max_batch = max_batch
        self._retry_delays = tuple(retry_delays)
        self._queue: deque[tuple[int, LogRecord]] = deque()
        self._condition = threading.Condition()
        self._queued = 0  # records accepted so far
        self._done = 0  # records sent or given up, in queue order
        self._flush_requested = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="runplane-log-shipper", daemon=True)
        self._thread.start()

    def put(self, record: LogRecord) -> None:
        """Queues a record; never blocks on the network. Ignored after ``close()``."""
        if len(record.message) * 4 > MAX_MESSAGE_BYTES:  # only then can it be too long
            record = record.model_copy(update={"message": truncate_message(record.message)})
        with self._condition:
            if self._closed:
                return
            self._queued += 1
            self._queue.append((self._queued, record))
            if len(self._queue) >= self._max_batch:
                self._condition.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Blocks until every record queued before the call was sent (or given up).

        Returns False if ``timeout`` seconds passed first.
        """
        with self._condition:
            target = self._queued
            if self._done >= target:
                return True  # nothing to send: no need to wake the thread
            self._flush_requested = True
            self._condition.notify_all()
            return self._condition.wait_for(
                lambda: self._done >= target or not self._thread.is_alive(), timeout
            )

    def close(self, timeout: float | None = None) -> None:
        """Sends what is queued, then stops the thread."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                if batch:
                    self._send([record for _, record in batch])
                with self._condition:
                    if batch:
                        self._done = batch[-1][0]
                    self._condition.notify_all()
        finally:
            with self._condition:
                self._done = self._queued  # nothing more will be sent: release waiters
                self._condition.notify_all()

    def _next_batch(self) -> list[tuple[int, LogRecord]] | None:
        """Waits for a full batch, the interval, a flush or close; None once closed and empty."""
        deadline = time.monotonic() + self._interval
        with self._condition:
            while not (
                self._closed or self._flush_requested or len(self._queue) >= self._max_batch
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            if not self._queue:
                self._flush_requested = False
                return None if self._closed else []
            batch: list[tuple[int, LogRecord]] = []
            size = 0
            while self._queue and len(batch) < self._max_batch:
                length = _size(self._queue[0][1].message)
                if batch and size + length > MAX_BATCH_BYTES:
                    break
                batch.append(self._queue.popleft())
                size += length
            if not self._queue:
                self._flush_requested = False
            return batch

    def _send(self, records: list[LogRecord]) -> None:
        error = self._try_send(records)
        if error is None:
            return
        runs = {record.flow_run_id for record in records}
        if len(runs) > 1:
            # One unknown run must not cost the others their logs: send run by run.
            for run in runs:
                self._send_or_report([r for r in records if r.flow_run_id == run])
            return
        _report(len(records), error)

    def _send_or_report(self, records: list[LogRecord]) -> None:
        error = self._try_send(records)
        if error is not None:
            _report(len(records), error)

    def _try_send(self, records: list[LogRecord]) -> Exception | None:
        # One id for every attempt: a retry of a call that was applied but whose answer was
        # lost is recognised by the server and stores nothing twice.
        batch_id = uuid.uuid4()
        last: Exception | None = None
        for delay in (0.0, *self._retry_delays):
            if delay:
                with self._condition:
                    # Woken early only by close(); retrying sooner is harmless then.
                    self._condition.wait(delay)
            try:
                self._write(records, batch_id)
                return None
            except Exception as err:  # anything: shipping must not die
                last = err
                if not _retriable(err):
                    return err
        return last


def _batch_writer(client: LogWriter | WriteLogs) -> _WriteBatch:
    """Sends a batch with its id through a client; a plain callable gets the records only."""
    if isinstance(client, LogWriter):
        writer = client
        return lambda records, batch_id: writer.write_logs(records, batch_id=batch_id)
    write = client
    return lambda records, _batch_id: write(records)


def _size(message: str) -> int:
    return len(message) if message.isascii() else len(message.encode(errors="replace"))


def _retriable(error: Exception) -> bool:
    from runplane._client.errors import DeadlineExceeded, ServerError, Unavailable

    return isinstance(error, Unavailable | DeadlineExceeded | ServerError | OSError)


def _report(count: int, error: Exception) -> None:
    with contextlib.suppress(Exception):
        print(
            f"runplane: {count} log record(s) could not be sent and were dropped: "
            f"{type(error).__name__}: {error}",
            file=sys.stderr,
        )


class APILogHandler(logging.Handler):
    """Sends records logged in a run to a ``LogShipper``; others are ignored.

    A record's run comes from its ``flow_run_id``/``task_run_id`` attributes (set by the
    run logger), else from the run the logging code runs in. ``extra={"send_to_api":
    False}`` keeps a record local.
    """

    def __init__(self, shipper: LogShipper, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.shipper = shipper

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "send_to_api", True) is False:
            return
        flow_run_id: uuid.UUID | None = getattr(record, "flow_run_id", None)
        task_run_id: uuid.UUID | None = getattr(record, "task_run_id", None)
        if flow_run_id is None and task_run_id is None:
            flow_run_id, task_run_id = current_run_ids()
        if flow_run_id is None and task_run_id is None:
            return
        try:
            message = self.format(record) if self.formatter else record.getMessage()
            if record.exc_info and not self.formatter:
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            self.shipper.put(
                LogRecord(
                    flow_run_id=flow_run_id,
                    task_run_id=task_run_id,
                    level=record.levelno,
                    message=message,
                    logger_name=record.name[:256],
                    timestamp=datetime.fromtimestamp(record.created, UTC),
                )
            )
        except Exception:
            self.handleError(record)


_installed: list[tuple[APILogHandler, LogShipper]] = []
_install_lock = threading.Lock()


def install_log_shipping(
    client: LogWriter | WriteLogs, *, console: bool = True, level: int = logging.INFO
) -> LogShipper:
    """Ships the run loggers' records through ``client``; returns the shipper to flush.

    Installs an ``APILogHandler`` on the flow-run and task-run loggers (replacing one
    installed before, whose shipper is flushed and closed) and, with ``console``, a
    stderr handler; the run loggers then stop propagating, so that a root handler
    does not print every line twice. The installed shipper is closed at interpreter exit.
    """
    shipper = LogShipper(client)
    handler = APILogHandler(shipper)
    with _install_lock:
        for old_handler, old_shipper in _installed:
            _detach(old_handler)
            old_shipper.close()
        _installed[:] = [(handler, shipper)]
        for name in (FLOW_RUN_LOGGER, TASK_RUN_LOGGER):
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            if logger.level == logging.NOTSET or logger.level > level:
                logger.setLevel(level)
            if console and not any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
                logger.addHandler(_ConsoleHandler())
                logger.propagate = False
    return shipper


def uninstall_log_shipping(shipper: LogShipper, timeout: float | None = None) -> None:
    """Removes the handler feeding ``shipper`` and closes it (flushing what is queued)."""
    with _install_lock:
        for handler, installed in list(_installed):
            if installed is shipper:
                _detach(handler)
                _installed.remove((handler, installed))
    shipper.close(timeout)


def _close_installed() -> None:
    """At interpreter exit: sends what the installed shipper still holds."""
    with _install_lock:
        shippers = [shipper for _, shipper in _installed]
    for shipper in shippers:
        shipper.close(5.0)


# Registered once: a registration per install would keep every shipper, and the client it
# sends through, alive until exit.
atexit.register(_close_installed)


def _detach(handler: logging.Handler) -> None:
    for name in (FLOW_RUN_LOGGER, TASK_RUN_LOGGER):
        logging.getLogger(name).removeHandler(handler)


class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Run logs on stderr, read at emit time so that redirected streams are honoured."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(
            logging.Formatter(
                "%(asctime)s.%(msecs)03d | %(levelname)-7s | %(name)s - %(message)s", "%H:%M:%S"
            )
        )

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


# Where print() goes in the current context: a run logger, or None for the real print.
_print_target: ContextVar[logging.LoggerAdapter[logging.Logger] | None] = ContextVar(
    "runplane_print_target", default=None
)
_original_print = builtins.print
_patch_lock = threading.Lock()


def _print(
    *values: object,
    sep: str | None = " ",
    end: str | None = "\n",
    file: Any = None,
    flush: bool = False,
) -> None:
    target = _print_target.get()
    if target is None or (file is not None and file is not sys.stdout):
        _original_print(*values, sep=sep, end=end, file=file, flush=flush)
        return
    text = (" " if sep is None else sep).join(str(value) for value in values)
    target.info(text, extra={"print": True})


def _patch_print() -> None:
    with _patch_lock:
        if builtins.print is not _print:
            builtins.print = _print


@contextlib.contextmanager
def capture_prints(enabled: bool = True) -> Iterator[None]:
    """Inside a run, sends ``print`` output (to stdout) to the run logger at INFO instead.

    The patch of ``builtins.print`` looks up a context variable, so prints in other
    threads, other runs or outside runs are untouched. ``enabled=False`` restores plain
    printing for the block (a task with ``log_prints=False`` inside a flow with it on).
    Outside a run it changes nothing.
    """
    try:
        logger: logging.LoggerAdapter[logging.Logger] | None = get_run_logger() if enabled else None
    except MissingRunContext:
        yield
        return
    _patch_print()
    token = _print_target.set(logger)
    try:
        yield
    finally:
        _print_target.reset(token)
