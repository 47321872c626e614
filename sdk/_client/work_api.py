"""Client methods for work pools, queues and the work stream that runners subscribe to."""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator, Iterable
from typing import Any, Final, Literal
from uuid import UUID

from google.protobuf import field_mask_pb2

from runplane._client import convert
from runplane._client.models import HeartbeatResult, Page, WorkItem, WorkPool, WorkQueue
from runplane._client.transport import Transport
from runplane.v1 import work_pb2


class _Unset(enum.Enum):
    """The default of an update's fields: a field left out is not in the mask, so it keeps
    its value, while ``None`` is a value (no concurrency limit)."""

    UNSET = enum.auto()

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.UNSET
Unset = Literal[_Unset.UNSET]


def _given(**fields: Any) -> dict[str, Any]:
    """The fields a caller passed, in a stable order, for the model and the update mask."""
    return {name: value for name, value in fields.items() if value is not UNSET}


class WorkAPI(Transport):
    """Work pools and queues, and the calls a runner makes."""

    async def create_work_pool(
        self,
        name: str,
        *,
        description: str = "",
        paused: bool = False,
        concurrency_limit: int | None = None,
    ) -> WorkPool:
        """Creates a work pool; raises ``AlreadyExists`` when the name is taken."""
        pool = WorkPool(
            name=name, description=description, paused=paused, concurrency_limit=concurrency_limit
        )
        request = work_pb2.CreateWorkPoolRequest(work_pool=convert.work_pool_to_pb(pool))
        response = await self._unary(self.stubs.work.CreateWorkPool, request)
        return convert.work_pool_from_pb(response.work_pool)

    async def get_work_pool(self, name: str) -> WorkPool:
        request = work_pb2.GetWorkPoolRequest(name=name)
        response = await self._unary(self.stubs.work.GetWorkPool, request)
        return convert.work_pool_from_pb(response.work_pool)

    async def list_work_pools(
        self, *, page_size: int = 0, page_token: str | None = None
    ) -> Page[WorkPool]:
        """Work pools ordered by name."""
        request = work_pb2.ListWorkPoolsRequest(page_size=page_size, page_token=page_token or "")
        response = await self._unary(self.stubs.work.ListWorkPools, request)
        items = [convert.work_pool_from_pb(pool) for pool in response.work_pools]
        return Page(items, response.next_page_token or None)

    async def update_work_pool(
        self,
        name: str,
        *,
        description: str | Unset = UNSET,
        paused: bool | Unset = UNSET,
        concurrency_limit: int | Unset | None = UNSET,
    ) -> WorkPool:
        """Changes the given fields of a work pool and keeps the others; raises ``NotFound``
        when there is no pool with that name.

        ``concurrency_limit=None`` removes the pool's limit, while leaving the argument out
        keeps it. Runs the change lets through (a resumed pool, a raised or removed limit)
        are pushed to the pool's runners at once.
        """
        fields = _given(description=description, paused=paused, concurrency_limit=concurrency_limit)
        if not fields:
            raise ValueError("update_work_pool needs at least one field to change")
        request = work_pb2.UpdateWorkPoolRequest(
            work_pool=convert.work_pool_to_pb(WorkPool(name=name, **fields)),
            update_mask=field_mask_pb2.FieldMask(paths=list(fields)),
        )
        response = await self._unary(self.stubs.work.UpdateWorkPool, request)
        return convert.work_pool_from_pb(response.work_pool)

    async def delete_work_pool(self, name: str) -> None:
        """Deletes a work pool and its queues."""
        await self._unary(self.stubs.work.DeleteWorkPool, work_pb2.DeleteWorkPoolRequest(name=name))

    async def create_work_queue(
        self,
        work_pool_name: str,
        name: str,
        *,
        priority: int = 0,
        paused: bool = False,
        concurrency_limit: int | None = None,
    ) -> WorkQueue:
        """Creates a queue in a pool, or returns the existing one with that name."""
        queue = WorkQueue(
            name=name,
            work_pool_name=work_pool_name,
            priority=priority,
            paused=paused,
            concurrency_limit=concurrency_limit,
        )
        request = work_pb2.CreateWorkQueueRequest(work_queue=convert.work_queue_to_pb(queue))
        response = await self._unary(self.stubs.work.CreateWorkQueue, request)
        return convert.work_queue_from_pb(response.work_queue)

    async def list_work_queues(self, work_pool_name: str) -> list[WorkQueue]:
        """The queues of a pool, by priority."""
        request = work_pb2.ListWorkQueuesRequest(work_pool_name=work_pool_name)
        response = await self._unary(self.stubs.work.ListWorkQueues, request)
        return [convert.work_queue_from_pb(queue) for queue in response.work_queues]

    async def update_work_queue(
        self,
        work_pool_name: str,
        name: str,
        *,
        priority: int | Unset = UNSET,
        paused: bool | Unset = UNSET,
        concurrency_limit: int | Unset | None = UNSET,
    ) -> WorkQueue:
        """Changes the given fields of a pool's queue and keeps the others; raises
        ``NotFound`` when the pool or the queue does not exist.

        ``priority`` is at least 1 (lower numbers are served first). ``concurrency_limit=None``
        removes the queue's limit, while leaving the argument out keeps it. Runs the change
        lets through are pushed to the pool's runners at once.
        """
        fields = _given(priority=priority, paused=paused, concurrency_limit=concurrency_limit)
        if not fields:
            raise ValueError("update_work_queue needs at least one field to change")
        queue = WorkQueue(name=name, work_pool_name=work_pool_name, **fields)
        request = work_pb2.UpdateWorkQueueRequest(
            work_queue=convert.work_queue_to_pb(queue),
            update_mask=field_mask_pb2.FieldMask(paths=list(fields)),
        )
        response = await self._unary(self.stubs.work.UpdateWorkQueue, request)
        return convert.work_queue_from_pb(response.work_queue)

    def subscribe_work(
        self,
        work_pool_name: str,
        *,
        runner_name: str,
        free_slots: int = 1,
        work_queue_names: Iterable[str] = (),
        held_lease_ids: Iterable[UUID] = (),
        runtimes: Iterable[str] = (),
    ) -> AsyncGenerator[WorkItem, None]:
        """Yields the work stream's items: first ``SubscriptionStarted``, then assignments,
        cancellations, pings and, eventually, a ``Reconnect`` asking to subscribe again.

        Only runs of deployments whose runtime is among ``runtimes`` come (none: "python")."""
        request = work_pb2.SubscribeWorkRequest(
            work_pool_name=work_pool_name,
            work_queue_names=work_queue_names,
            runner_name=runner_name,
            free_slots=free_slots,
            held_lease_ids=[str(lease_id) for lease_id in held_lease_ids],
            runtimes=runtimes,
        )
        return self._stream(self.stubs.work.SubscribeWork, request, convert.work_item_from_pb)

    async def heartbeat(
        self,
        runner_id: UUID,
        session_id: UUID,
        running_flow_run_ids: Iterable[UUID],
        *,
        free_slots: int = 0,
    ) -> HeartbeatResult:
        """Extends the leases and heartbeats of the runner's runs."""
        request = work_pb2.HeartbeatRequest(
            runner_id=str(runner_id),
            session_id=str(session_id),
            running_flow_run_ids=[str(run_id) for run_id in running_flow_run_ids],
            free_slots=free_slots,
        )
        response = await self._unary(self.stubs.work.Heartbeat, request)
        return convert.heartbeat_result_from_pb(response)

    async def release_assignment(
        self, flow_run_id: UUID, lease_id: UUID, *, reason: str = ""
    ) -> None:
        """Gives an assigned run back before it started, e.g. when its process failed to start."""
        request = work_pb2.ReleaseAssignmentRequest(
            flow_run_id=str(flow_run_id), lease_id=str(lease_id), reason=reason
        )
        await self._unary(self.stubs.work.ReleaseAssignment, request)
