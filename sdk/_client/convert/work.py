"""Work pools, work queues, the work stream's items and heartbeats (work.proto)."""

from __future__ import annotations

from uuid import UUID

from runplane._client.convert.common import (
    duration_to_pb,
    id_to_pb,
    ids_to_pb,
    timestamp_field,
    timestamp_to_pb,
    uuid_from_pb,
    uuids_from_pb,
)
from runplane._client.convert.deployments import deployment_from_pb, deployment_to_pb
from runplane._client.convert.flow_runs import flow_run_from_pb, flow_run_to_pb
from runplane._client.models import (
    CancelRun,
    HeartbeatResult,
    Ping,
    Reconnect,
    RunAssignment,
    SubscriptionStarted,
    WorkItem,
    WorkPool,
    WorkQueue,
)
from runplane.v1 import work_pb2


def work_pool_to_pb(pool: WorkPool) -> work_pb2.WorkPool:
    return work_pb2.WorkPool(
        id=id_to_pb(pool.id),
        name=pool.name,
        description=pool.description,
        paused=pool.paused,
        concurrency_limit=pool.concurrency_limit,
        subscriber_count=pool.subscriber_count,
        create_time=timestamp_to_pb(pool.create_time),
    )


def work_pool_from_pb(message: work_pb2.WorkPool) -> WorkPool:
    limit = message.concurrency_limit if message.HasField("concurrency_limit") else None
    return WorkPool(
        id=uuid_from_pb(message.id),
        name=message.name,
        description=message.description,
        paused=message.paused,
        concurrency_limit=limit,
        subscriber_count=message.subscriber_count,
        create_time=timestamp_field(message, "create_time"),
    )


def work_queue_to_pb(queue: WorkQueue) -> work_pb2.WorkQueue:
    return work_pb2.WorkQueue(
        id=id_to_pb(queue.id),
        name=queue.name,
        work_pool_name=queue.work_pool_name,
        priority=queue.priority,
        paused=queue.paused,
        concurrency_limit=queue.concurrency_limit,
    )


def work_queue_from_pb(message: work_pb2.WorkQueue) -> WorkQueue:
    limit = message.concurrency_limit if message.HasField("concurrency_limit") else None
    return WorkQueue(
        id=uuid_from_pb(message.id),
        name=message.name,
        work_pool_name=message.work_pool_name,
        priority=message.priority,
        paused=message.paused,
        concurrency_limit=limit,
    )


def work_item_to_pb(item: WorkItem) -> work_pb2.SubscribeWorkResponse:
    if isinstance(item, SubscriptionStarted):
        started = work_pb2.SubscriptionStarted(
            session_id=str(item.session_id),
            runner_id=str(item.runner_id),
            heartbeat_interval=duration_to_pb(item.heartbeat_interval),
            heartbeat_timeout=duration_to_pb(item.heartbeat_timeout),
        )
        return work_pb2.SubscribeWorkResponse(started=started)
    if isinstance(item, RunAssignment):
        deployment = None if item.deployment is None else deployment_to_pb(item.deployment)
        assignment = work_pb2.RunAssignment(
            flow_run=flow_run_to_pb(item.flow_run),
            deployment=deployment,
            lease_id=str(item.lease_id),
            lease_expire_time=timestamp_to_pb(item.lease_expire_time),
            attempt=item.attempt,
        )
        return work_pb2.SubscribeWorkResponse(assignment=assignment)
    if isinstance(item, CancelRun):
        cancel = work_pb2.CancelRun(flow_run_id=str(item.flow_run_id), reason=item.reason)
        return work_pb2.SubscribeWorkResponse(cancel=cancel)
    if isinstance(item, Ping):
        return work_pb2.SubscribeWorkResponse(ping=work_pb2.Ping(time=timestamp_to_pb(item.time)))
    return work_pb2.SubscribeWorkResponse(reconnect=work_pb2.Reconnect(reason=item.reason))


def work_item_from_pb(message: work_pb2.SubscribeWorkResponse) -> WorkItem | None:
    """The item of one work stream message; None for an item kind this client does not know."""
    kind = message.WhichOneof("item")
    if kind == "started":
        started = message.started
        return SubscriptionStarted(
            session_id=UUID(started.session_id),
            runner_id=UUID(started.runner_id),
            heartbeat_interval=started.heartbeat_interval.ToTimedelta(),
            heartbeat_timeout=started.heartbeat_timeout.ToTimedelta(),
        )
    if kind == "assignment":
        assignment = message.assignment
        deployment = assignment.deployment if assignment.HasField("deployment") else None
        return RunAssignment(
            flow_run=flow_run_from_pb(assignment.flow_run),
            deployment=None if deployment is None else deployment_from_pb(deployment),
            lease_id=UUID(assignment.lease_id),
            lease_expire_time=timestamp_field(assignment, "lease_expire_time"),
            attempt=assignment.attempt,
        )
    if kind == "cancel":
        return CancelRun(flow_run_id=UUID(message.cancel.flow_run_id), reason=message.cancel.reason)
    if kind == "ping":
        return Ping(time=timestamp_field(message.ping, "time"))
    if kind == "reconnect":
        return Reconnect(reason=message.reconnect.reason)
    return None


def heartbeat_result_to_pb(result: HeartbeatResult) -> work_pb2.HeartbeatResponse:
    return work_pb2.HeartbeatResponse(
        cancel_flow_run_ids=ids_to_pb(result.cancel_flow_run_ids),
        unknown_flow_run_ids=ids_to_pb(result.unknown_flow_run_ids),
        lease_expire_time=timestamp_to_pb(result.lease_expire_time),
        finished_flow_run_ids=ids_to_pb(result.finished_flow_run_ids),
    )


def heartbeat_result_from_pb(message: work_pb2.HeartbeatResponse) -> HeartbeatResult:
    return HeartbeatResult(
        cancel_flow_run_ids=uuids_from_pb(message.cancel_flow_run_ids),
        unknown_flow_run_ids=uuids_from_pb(message.unknown_flow_run_ids),
        lease_expire_time=timestamp_field(message, "lease_expire_time"),
        finished_flow_run_ids=uuids_from_pb(message.finished_flow_run_ids),
    )
