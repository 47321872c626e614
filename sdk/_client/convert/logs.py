"""Log records and log filters (logs.proto)."""

from __future__ import annotations

from datetime import UTC

from runplane._client.convert.common import id_to_pb, timestamp_to_pb, uuid_from_pb
from runplane._client.models import LogFilter, LogRecord
from runplane.v1 import logs_pb2


def log_record_to_pb(record: LogRecord) -> logs_pb2.LogRecord:
    return logs_pb2.LogRecord(
        id=record.id or "",
        flow_run_id=id_to_pb(record.flow_run_id),
        task_run_id=id_to_pb(record.task_run_id),
        level=record.level,
        logger_name=record.logger_name,
        message=record.message,
        timestamp=timestamp_to_pb(record.timestamp),
    )


def log_record_from_pb(message: logs_pb2.LogRecord) -> LogRecord:
    return LogRecord(
        id=message.id or None,
        flow_run_id=uuid_from_pb(message.flow_run_id),
        task_run_id=uuid_from_pb(message.task_run_id),
        level=message.level,
        logger_name=message.logger_name,
        message=message.message,
        timestamp=message.timestamp.ToDatetime(tzinfo=UTC),
    )


def log_filter_to_pb(flt: LogFilter) -> logs_pb2.LogFilter:
    return logs_pb2.LogFilter(
        flow_run_id=id_to_pb(flt.flow_run_id),
        task_run_id=id_to_pb(flt.task_run_id),
        min_level=flt.min_level,
    )


def log_filter_from_pb(message: logs_pb2.LogFilter) -> LogFilter:
    return LogFilter(
        flow_run_id=uuid_from_pb(message.flow_run_id),
        task_run_id=uuid_from_pb(message.task_run_id),
        min_level=message.min_level,
    )
