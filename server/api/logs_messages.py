"""Log records between protobuf and the repository, with the checks of written records."""

from __future__ import annotations

import uuid
from datetime import datetime

from google.protobuf import timestamp_pb2

from runplane._log_lines import truncate_message
from runplane.server.api import convert
from runplane.server.api.errors import invalid_argument
from runplane.server.api.validation import check_label, parse_optional_uuid, parse_uuid
from runplane.server.db.logs import LogCriteria, LogRecord, NewLog
from runplane.v1 import logs_pb2

MAX_LEVEL = 100
MAX_LOGGER_NAME_LENGTH = 256


def log_record(record: LogRecord) -> logs_pb2.LogRecord:
    return logs_pb2.LogRecord(
        id=str(record.id),
        flow_run_id=str(record.flow_run_id) if record.flow_run_id else "",
        task_run_id=str(record.task_run_id) if record.task_run_id else "",
        level=record.level,
        logger_name=record.logger_name,
        message=record.message,
        timestamp=convert.timestamp(record.timestamp),
    )


def new_log(field: str, message: logs_pb2.LogRecord, now: datetime) -> NewLog:
    """A record to store; ``field`` names it in errors (e.g. "records[3]")."""
    check_label(f"{field}.logger_name", message.logger_name, MAX_LOGGER_NAME_LENGTH)
    task_run_id = parse_optional_uuid(f"{field}.task_run_id", message.task_run_id)
    if message.flow_run_id or task_run_id is None:
        flow_run_id: uuid.UUID | None = parse_uuid(f"{field}.flow_run_id", message.flow_run_id)
    else:
        flow_run_id = None  # a line of a task run of its own
    return NewLog(
        flow_run_id=flow_run_id,
        task_run_id=task_run_id,
        level=level(f"{field}.level", message.level),
        logger_name=message.logger_name,
        message=truncate_message(message.message),
        timestamp=(
            to_datetime(f"{field}.timestamp", message.timestamp)
            if message.HasField("timestamp")
            else now
        ),
    )


def criteria(field: str, message: logs_pb2.LogFilter) -> LogCriteria:
    return LogCriteria(
        flow_run_id=parse_optional_uuid(f"{field}.flow_run_id", message.flow_run_id),
        task_run_id=parse_optional_uuid(f"{field}.task_run_id", message.task_run_id),
        min_level=level(f"{field}.min_level", message.min_level),
    )


def level(field: str, value: int) -> int:
    if not 0 <= value <= MAX_LEVEL:
        raise invalid_argument(field, f"must be between 0 and {MAX_LEVEL}")
    return value


def to_datetime(field: str, message: timestamp_pb2.Timestamp) -> datetime:
    """A timestamp that a datetime can hold (years 1 to 9999)."""
    try:
        return convert.to_datetime(message)
    except (ValueError, OverflowError):
        raise invalid_argument(field, "is out of range") from None


def after_id(key: list[object] | None, field: str) -> int | None:
    """The id a page token continues after."""
    if key is None:
        return None
    if len(key) != 1 or not isinstance(key[0], int) or isinstance(key[0], bool):
        raise invalid_argument(field, "is not a token returned by this server")
    return key[0]


def distinct_runs(logs: list[NewLog]) -> list[uuid.UUID]:
    """The flow runs of these lines (lines of task runs of their own have none)."""
    return sorted({new.flow_run_id for new in logs if new.flow_run_id is not None})


def own_task_runs(logs: list[NewLog]) -> list[uuid.UUID]:
    """The task runs of their own whose lines these are."""
    return sorted({new.task_run_id for new in logs if new.flow_run_id is None and new.task_run_id})
