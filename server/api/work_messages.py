"""Work pools, queues and work-stream items as protobuf messages."""

from __future__ import annotations

import uuid
from datetime import datetime

from runplane.server.api import convert
from runplane.server.api.deployment_messages import deployment
from runplane.server.api.flow_run_messages import flow_run_message
from runplane.server.db.work_pools import WorkPoolRecord, WorkQueueRecord
from runplane.server.delivery.work_items import Assignment, Cancel, WorkItem
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


def work_item(item: WorkItem) -> work_pb2.SubscribeWorkResponse:
    """A run handed to the runner, or one it must stop."""
    if isinstance(item, Cancel):
        cancel = work_pb2.CancelRun(flow_run_id=str(item.run_id), reason=item.reason)
        return work_pb2.SubscribeWorkResponse(cancel=cancel)
    return work_pb2.SubscribeWorkResponse(assignment=_assignment(item))


def _assignment(item: Assignment) -> work_pb2.RunAssignment:
    message = work_pb2.RunAssignment(
        flow_run=flow_run_message(item.run),
        lease_id=str(item.lease_id),
        lease_expire_time=convert.timestamp(item.lease_expire_time),
        attempt=item.run.attempt,
    )
    if item.deployment is not None:
        message.deployment.CopyFrom(deployment(item.deployment))
    return message
