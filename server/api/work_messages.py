"""Work pools, queues and work-stream items as protobuf messages."""

from __future__ import annotations

import uuid
from datetime import datetime

from runplane.server.api import convert
from runplane.server.db.work_pools import WorkPoolRecord, WorkQueueRecord
from runplane.v1 import work_pb2


def work_pool(record: WorkPoolRecord, subscriber_count: int) -> work_pb2.WorkPool:
    message = work_pb2.WorkPool(
        id=str(record.id),
        name=record.name,
        description=record.description,
        paused=record.paused,
        subscriber_count=subscriber_count,
        create_time=convert.timestamp(record.create_time),
    )
    if record.concurrency_limit is not None:
        message.concurrency_limit = record.concurrency_limit
    return message


def work_queue(record: WorkQueueRecord) -> work_pb2.WorkQueue:
    message = work_pb2.WorkQueue(
        id=str(record.id),
        name=record.name,
        work_pool_name=record.work_pool_name,
        priority=record.priority,
        paused=record.paused,
    )
    if record.concurrency_limit is not None:
        message.concurrency_limit = record.concurrency_limit
    return message


def started(
    session_id: uuid.UUID,
    runner_id: uuid.UUID,
    heartbeat_seconds: float,
    heartbeat_timeout_seconds: float,
) -> work_pb2.SubscribeWorkResponse:
    return work_pb2.SubscribeWorkResponse(
        started=work_pb2.SubscriptionStarted(
            session_id=str(session_id),
            runner_id=str(runner_id),
            heartbeat_interval=convert.duration(heartbeat_seconds),
            heartbeat_timeout=convert.duration(heartbeat_timeout_seconds),
        )
    )


def ping(now: datetime) -> work_pb2.SubscribeWorkResponse:
    return work_pb2.SubscribeWorkResponse(ping=work_pb2.Ping(time=convert.timestamp(now)))


def reconnect(reason: str) -> work_pb2.SubscribeWorkResponse:
    return work_pb2.SubscribeWorkResponse(reconnect=work_pb2.Reconnect(reason=reason))
