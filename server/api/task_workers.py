"""The task-worker part of TaskRunService: the stream of background runs, the workers'
heartbeats, and the watch a caller of ``Task.delay`` waits on for the result."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc

from runplane.server.api import convert
from runplane.server.api.errors import invalid_argument, not_found, shutting_down
from runplane.server.api.task_run_messages import MAX_KEY_LENGTH, task_run_message
from runplane.server.api.validation import optional_name, parse_uuid, parse_uuids, require_name
from runplane.server.clock import Clock
from runplane.server.db import task_runs
from runplane.server.db.engine import Database
from runplane.server.delivery.subscriptions import IDLE
from runplane.server.delivery.task_workers import (
    ANY_RUN,
    TASK_WORKER_POOL,
    TaskAssignment,
    TaskSubscription,
    TaskWorkerDelivery,
)
from runplane.server.orchestration import TERMINAL_TYPES, StateType
from runplane.server.settings import ServerSettings
from runplane.v1 import task_runs_pb2, work_pb2

Context = grpc.aio.ServicerContext[Any, Any]

HEARTBEAT_SECONDS = 5.0
MAX_TASK_KEYS = 1000
MAX_HELD_RUNS = 10_000


def _started(
    session: TaskSubscription, heartbeat_timeout: float
) -> task_runs_pb2.SubscribeTaskRunsResponse:
    return task_runs_pb2.SubscribeTaskRunsResponse(
        started=task_runs_pb2.TaskWorkerStarted(
            session_id=str(session.session_id),
            worker_id=str(session.runner_id),
            heartbeat_interval=convert.duration(min(HEARTBEAT_SECONDS, heartbeat_timeout / 3)),
            heartbeat_timeout=convert.duration(heartbeat_timeout),
        )
    )


def _assignment(item: TaskAssignment) -> task_runs_pb2.SubscribeTaskRunsResponse:
    return task_runs_pb2.SubscribeTaskRunsResponse(
        assignment=task_runs_pb2.TaskRunAssignment(
            task_run=task_run_message(item.run),
            lease_id=str(item.lease_id),
            lease_expire_time=convert.timestamp(item.lease_expire_time),
        )
    )


class TaskWorkerMethods:
    """SubscribeTaskRuns, HeartbeatTaskRuns and WatchTaskRun, for ``TaskRunServicer``."""

    _db: Database
    _clock: Clock
    _settings: ServerSettings
    _delivery: TaskWorkerDelivery

    async def SubscribeTaskRuns(
        self, request: task_runs_pb2.SubscribeTaskRunsRequest, context: Context
    ) -> AsyncIterator[task_runs_pb2.SubscribeTaskRunsResponse]:
        if not request.task_keys:
            raise invalid_argument("task_keys", "name at least one task key")
        if len(request.task_keys) > MAX_TASK_KEYS:
            raise invalid_argument("task_keys", f"at most {MAX_TASK_KEYS} task keys")
        keys = [
            require_name(f"task_keys[{i}]", key, MAX_KEY_LENGTH)
            for i, key in enumerate(request.task_keys)
        ]
        worker_name = optional_name("worker_name", request.worker_name) or ""
        if request.free_slots < 1:
            raise invalid_argument("free_slots", "must be at least 1")
        registry = self._delivery.subscriptions
        if registry.closed:
            raise shutting_down()
        subscription = registry.open(
            runner_name=worker_name,
            work_pool_name=TASK_WORKER_POOL,
            work_queue_names=list(dict.fromkeys(keys)),
            free_slots=request.free_slots,
        )
        reconnect_time = self._clock.now() + self._settings.reconnect_delay()
        ping_interval = self._settings.work_ping_interval
        try:
            yield _started(subscription, self._delivery.lease_seconds)
            self._delivery.notify()
            while True:
                remaining = (reconnect_time - self._clock.now()).total_seconds()
                if remaining <= 0:
                    yield task_runs_pb2.SubscribeTaskRunsResponse(
                        reconnect=work_pb2.Reconnect(reason="the stream is old: subscribe again")
                    )
                    return
                item = await subscription.next_item(min(ping_interval, remaining))
                if isinstance(item, TaskAssignment):
                    yield _assignment(item)
                elif item == IDLE:
                    now = convert.timestamp(self._clock.now())
                    yield task_runs_pb2.SubscribeTaskRunsResponse(ping=work_pb2.Ping(time=now))
                else:
                    yield task_runs_pb2.SubscribeTaskRunsResponse(
                        reconnect=work_pb2.Reconnect(reason="the server is shutting down")
                    )
                    return
        finally:
            registry.remove(subscription)

    async def HeartbeatTaskRuns(
        self, request: task_runs_pb2.HeartbeatTaskRunsRequest, context: Context
    ) -> task_runs_pb2.HeartbeatTaskRunsResponse:
        worker_id = parse_uuid("worker_id", request.worker_id)
        if len(request.running_task_run_ids) > MAX_HELD_RUNS:
            raise invalid_argument("running_task_run_ids", f"at most {MAX_HELD_RUNS} runs")
        run_ids = list(
            dict.fromkeys(parse_uuids("running_task_run_ids", request.running_task_run_ids))
        )
        held, expire = await self._delivery.heartbeat(worker_id, run_ids)
        return task_runs_pb2.HeartbeatTaskRunsResponse(
            unknown_task_run_ids=[str(i) for i in run_ids if i not in held],
            lease_expire_time=convert.timestamp(expire),
            cancel_task_run_ids=[str(i) for i in run_ids if held.get(i) is StateType.CANCELLING],
        )

    async def WatchTaskRun(
        self, request: task_runs_pb2.WatchTaskRunRequest, context: Context
    ) -> AsyncIterator[task_runs_pb2.WatchTaskRunResponse]:
        run_id = parse_uuid("task_run_id", request.task_run_id)
        # Subscribed before the first read, so that no change lands unseen in between.
        changes = self._delivery.changes.subscribe()
        events = changes.__aiter__()
        try:
            last_state: uuid.UUID | None = None
            async with self._db.read() as conn:
                record = await task_runs.get(conn, run_id)
            if record is None:
                raise not_found("task run", run_id)
            while True:
                state_id = record.state.id if record.state else None
                if state_id != last_state:
                    last_state = state_id
                    yield task_runs_pb2.WatchTaskRunResponse(task_run=task_run_message(record))
                if record.state is not None and StateType(record.state.type) in TERMINAL_TYPES:
                    return
                try:
                    # ANY_RUN: some run changed through another process; perhaps this one.
                    while await anext(events) not in (run_id, ANY_RUN):
                        pass
                except StopAsyncIteration:
                    return  # the server is stopping
                async with self._db.read() as conn:
                    found = await task_runs.get(conn, run_id)
                if found is None:
                    return
                record = found
        finally:
            changes.close()
