"""WorkService through a real server: pools, queues, the work stream, heartbeats, releases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_support import bad_field, status_detail

from runplane.server import RunplaneServer, ServerSettings, create_server
from runplane.server.db.tables import flow_run, flow_run_state
from runplane.v1 import (
    deployments_pb2,
    deployments_pb2_grpc,
    states_pb2,
    work_pb2,
    work_pb2_grpc,
)

pytestmark = pytest.mark.anyio

Stub = work_pb2_grpc.WorkServiceStub
PING_INTERVAL = 0.05


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def channel(server: RunplaneServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as opened:
        yield opened


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> Stub:
    return Stub(channel)


def fast_settings(database_url: str, home: Path) -> ServerSettings:
    return ServerSettings(
        home=home,
        database_url=database_url,
        host="127.0.0.1",
        port=0,
        work_ping_interval=PING_INTERVAL,
        shutdown_grace=1.0,
    )


@pytest.fixture
async def fast_server(database_url: str, tmp_path: Path) -> AsyncIterator[RunplaneServer]:
    """A server whose work streams ping every few milliseconds."""
    async with await create_server(fast_settings(database_url, tmp_path)) as running:
        yield running


async def expect_error(call: Any, code: grpc.StatusCode, text: str = "") -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    assert text in (caught.value.details() or "")
    return caught.value


def error_reason(error: grpc.aio.AioRpcError) -> str:
    return status_detail(error, error_details_pb2.ErrorInfo).reason


# --- pools and queues -------------------------------------------------------------------------


async def test_work_pool_lifecycle(stub: Stub) -> None:
    name = unique("pool")
    created = await stub.CreateWorkPool(
        work_pb2.CreateWorkPoolRequest(
            work_pool=work_pb2.WorkPool(name=name, description="gpu boxes", concurrency_limit=4)
        )
    )
    pool = created.work_pool
    assert uuid.UUID(pool.id)
    assert (pool.name, pool.description, pool.concurrency_limit) == (name, "gpu boxes", 4)
    assert pool.subscriber_count == 0
    fetched = await stub.GetWorkPool(work_pb2.GetWorkPoolRequest(name=name))
    assert fetched.work_pool == pool
    error = await expect_error(
        stub.CreateWorkPool(work_pb2.CreateWorkPoolRequest(work_pool=work_pb2.WorkPool(name=name))),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert error_reason(error) == "WORK_POOL_ALREADY_EXISTS"
    await stub.DeleteWorkPool(work_pb2.DeleteWorkPoolRequest(name=name))
    await expect_error(
        stub.GetWorkPool(work_pb2.GetWorkPoolRequest(name=name)), grpc.StatusCode.NOT_FOUND
    )
    await expect_error(
        stub.DeleteWorkPool(work_pb2.DeleteWorkPoolRequest(name=name)), grpc.StatusCode.NOT_FOUND
    )


async def test_list_work_pools_pages_by_name(stub: Stub) -> None:
    prefix = unique("listed")
    names = [f"{prefix}-{i}" for i in (2, 0, 1)]
    for name in names:
        await stub.CreateWorkPool(
            work_pb2.CreateWorkPoolRequest(work_pool=work_pb2.WorkPool(name=name))
        )
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListWorkPools(
            work_pb2.ListWorkPoolsRequest(page_size=2, page_token=token)
        )
        assert len(page.work_pools) <= 2
        seen += [p.name for p in page.work_pools]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(seen)
    assert [name for name in seen if name.startswith(prefix)] == sorted(names)


async def test_queues_are_created_once_and_listed_by_priority(stub: Stub) -> None:
    pool = unique("pool")
    await stub.CreateWorkPool(
        work_pb2.CreateWorkPoolRequest(work_pool=work_pb2.WorkPool(name=pool))
    )

    async def queue(**fields: Any) -> work_pb2.WorkQueue:
        request = work_pb2.CreateWorkQueueRequest(
            work_queue=work_pb2.WorkQueue(work_pool_name=pool, **fields)
        )
        return (await stub.CreateWorkQueue(request)).work_queue

    urgent = await queue(name="urgent", priority=1)
    bulk = await queue(name="bulk", priority=10, concurrency_limit=2, paused=True)
    later = await queue(name="later")
    again = await queue(name="urgent", priority=50)
    assert again == urgent
    assert bulk.concurrency_limit == 2
    assert bulk.paused
    assert later.priority == 11
    listed = await stub.ListWorkQueues(work_pb2.ListWorkQueuesRequest(work_pool_name=pool))
    assert [(q.name, q.priority) for q in listed.work_queues] == [
        ("default", 1),
        ("urgent", 1),
        ("bulk", 10),
        ("later", 11),
    ]
    assert all(q.work_pool_name == pool for q in listed.work_queues)
    missing = unique("missing")
    await expect_error(
        stub.CreateWorkQueue(
            work_pb2.CreateWorkQueueRequest(
                work_queue=work_pb2.WorkQueue(name="q", work_pool_name=missing)
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        stub.ListWorkQueues(work_pb2.ListWorkQueuesRequest(work_pool_name=missing)),
        grpc.StatusCode.NOT_FOUND,
    )
    await stub.DeleteWorkPool(work_pb2.DeleteWorkPoolRequest(name=pool))
    await expect_error(
        stub.ListWorkQueues(work_pb2.ListWorkQueuesRequest(work_pool_name=pool)),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_pool_and_queue_rpcs_reject_bad_input(stub: Stub) -> None:
    cases: list[tuple[Any, str]] = [
        (stub.CreateWorkPool(work_pb2.CreateWorkPoolRequest()), "work_pool.name"),
        (
            stub.CreateWorkPool(
                work_pb2.CreateWorkPoolRequest(work_pool=work_pb2.WorkPool(name="a/b"))
            ),
            "work_pool.name",
        ),
        (
            stub.CreateWorkPool(
                work_pb2.CreateWorkPoolRequest(
                    work_pool=work_pb2.WorkPool(name=unique("p"), concurrency_limit=-1)
                )
            ),
            "work_pool.concurrency_limit",
        ),
        (stub.GetWorkPool(work_pb2.GetWorkPoolRequest(name=" ")), "name"),
        (stub.DeleteWorkPool(work_pb2.DeleteWorkPoolRequest()), "name"),
        (stub.ListWorkPools(work_pb2.ListWorkPoolsRequest(page_size=-5)), "page_size"),
        (stub.ListWorkPools(work_pb2.ListWorkPoolsRequest(page_token="%%%")), "page_token"),
        (
            stub.CreateWorkQueue(
                work_pb2.CreateWorkQueueRequest(work_queue=work_pb2.WorkQueue(work_pool_name="p"))
            ),
            "work_queue.name",
        ),
        (
            stub.CreateWorkQueue(
                work_pb2.CreateWorkQueueRequest(work_queue=work_pb2.WorkQueue(name="q"))
            ),
            "work_queue.work_pool_name",
        ),
        (
            stub.CreateWorkQueue(
                work_pb2.CreateWorkQueueRequest(
                    work_queue=work_pb2.WorkQueue(name="q", work_pool_name="p", priority=-1)
                )
            ),
            "work_queue.priority",
        ),
        (
            stub.CreateWorkQueue(
                work_pb2.CreateWorkQueueRequest(
                    work_queue=work_pb2.WorkQueue(
                        name="q", work_pool_name="p", concurrency_limit=-1
                    )
                )
            ),
            "work_queue.concurrency_limit",
        ),
        (stub.ListWorkQueues(work_pb2.ListWorkQueuesRequest()), "work_pool_name"),
    ]
    for call, field in cases:
        await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT, field)


# --- updating pools and queues ---------------------------------------------------------------


def pool_request(paths: list[str], **fields: Any) -> work_pb2.UpdateWorkPoolRequest:
    return work_pb2.UpdateWorkPoolRequest(
        work_pool=work_pb2.WorkPool(**fields), update_mask=field_mask_pb2.FieldMask(paths=paths)
    )


def queue_request(paths: list[str], **fields: Any) -> work_pb2.UpdateWorkQueueRequest:
    return work_pb2.UpdateWorkQueueRequest(
        work_queue=work_pb2.WorkQueue(**fields), update_mask=field_mask_pb2.FieldMask(paths=paths)
    )


async def update_pool(stub: Stub, paths: list[str], **fields: Any) -> work_pb2.WorkPool:
    return (await stub.UpdateWorkPool(pool_request(paths, **fields))).work_pool


async def update_queue(stub: Stub, paths: list[str], **fields: Any) -> work_pb2.WorkQueue:
    return (await stub.UpdateWorkQueue(queue_request(paths, **fields))).work_queue


async def test_update_work_pool_changes_only_the_masked_fields(stub: Stub) -> None:
    name = unique("pool")
    created = await stub.CreateWorkPool(
        work_pb2.CreateWorkPoolRequest(
            work_pool=work_pb2.WorkPool(name=name, description="gpu boxes", concurrency_limit=4)
        )
    )
    stored = created.work_pool

    paused = await update_pool(
        stub, ["paused"], name=name, paused=True, description="ignored: not in the mask"
    )
    assert paused.paused
    assert (paused.description, paused.concurrency_limit) == ("gpu boxes", 4)
    assert (paused.id, paused.create_time) == (stored.id, stored.create_time)

    changed = await update_pool(
        stub,
        ["description", "concurrency_limit", "paused"],
        name=name,
        description="cpu boxes",
        concurrency_limit=0,
        paused=False,
    )
    assert not changed.paused
    assert changed.description == "cpu boxes"
    assert changed.HasField("concurrency_limit")
    assert changed.concurrency_limit == 0
    fetched = await stub.GetWorkPool(work_pb2.GetWorkPoolRequest(name=name))
    assert fetched.work_pool == changed


async def test_update_work_pool_clears_the_limit_left_unset_under_the_mask(stub: Stub) -> None:
    name = unique("pool")
    await stub.CreateWorkPool(
        work_pb2.CreateWorkPoolRequest(work_pool=work_pb2.WorkPool(name=name, concurrency_limit=2))
    )
    kept = await update_pool(stub, ["description"], name=name, description="limit untouched")
    assert kept.concurrency_limit == 2
    cleared = await update_pool(stub, ["concurrency_limit"], name=name)
    assert not cleared.HasField("concurrency_limit")
    fetched = await stub.GetWorkPool(work_pb2.GetWorkPoolRequest(name=name))
    assert not fetched.work_pool.HasField("concurrency_limit")
    assert fetched.work_pool.description == "limit untouched"


async def test_update_work_queue_changes_only_the_masked_fields(stub: Stub) -> None:
    pool = unique("pool")
    await stub.CreateWorkPool(
        work_pb2.CreateWorkPoolRequest(work_pool=work_pb2.WorkPool(name=pool))
    )
    await stub.CreateWorkQueue(
        work_pb2.CreateWorkQueueRequest(
            work_queue=work_pb2.WorkQueue(
                name="bulk", work_pool_name=pool, priority=5, concurrency_limit=3
            )
        )
    )
    paused = await update_queue(
        stub, ["paused"], work_pool_name=pool, name="bulk", paused=True, priority=99
    )
    assert paused.paused
    assert (paused.priority, paused.concurrency_limit) == (5, 3)

    changed = await update_queue(
        stub,
        ["priority", "concurrency_limit", "paused"],
        work_pool_name=pool,
        name="bulk",
        priority=1,
        concurrency_limit=7,
    )
    assert (changed.priority, changed.concurrency_limit, changed.paused) == (1, 7, False)
    cleared = await update_queue(stub, ["concurrency_limit"], work_pool_name=pool, name="bulk")
    assert not cleared.HasField("concurrency_limit")
    assert cleared.priority == 1
    # The default queue is a queue like the others.
    default = await update_queue(
        stub, ["priority"], work_pool_name=pool, name="default", priority=2
    )
    assert default.priority == 2
    listed = await stub.ListWorkQueues(work_pb2.ListWorkQueuesRequest(work_pool_name=pool))
    assert [(q.name, q.priority) for q in listed.work_queues] == [("bulk", 1), ("default", 2)]
    assert listed.work_queues[0] == cleared


async def test_updates_reject_bad_input_naming_the_field(stub: Stub) -> None:
    pool = unique("pool")
    await stub.CreateWorkPool(
        work_pb2.CreateWorkPoolRequest(work_pool=work_pb2.WorkPool(name=pool, concurrency_limit=1))
    )

    queue = {"work_pool_name": pool, "name": "default"}
    cases: list[tuple[Any, str]] = [
        (stub.UpdateWorkPool(work_pb2.UpdateWorkPoolRequest()), "work_pool"),
        (stub.UpdateWorkPool(pool_request(["paused"], paused=True)), "work_pool.name"),
        (stub.UpdateWorkPool(pool_request([], name=pool, paused=True)), "update_mask"),
        (stub.UpdateWorkPool(pool_request(["name"], name=pool)), "update_mask"),
        (stub.UpdateWorkPool(pool_request(["paused", "id"], name=pool)), "update_mask"),
        (
            stub.UpdateWorkPool(
                pool_request(["concurrency_limit"], name=pool, concurrency_limit=-1)
            ),
            "work_pool.concurrency_limit",
        ),
        (
            stub.UpdateWorkPool(
                pool_request(["description"], name=pool, description="d" * 100_001)
            ),
            "work_pool.description",
        ),
        (stub.UpdateWorkQueue(work_pb2.UpdateWorkQueueRequest()), "work_queue"),
        (
            stub.UpdateWorkQueue(queue_request(["paused"], work_pool_name=pool)),
            "work_queue.name",
        ),
        (
            stub.UpdateWorkQueue(queue_request(["paused"], name="default")),
            "work_queue.work_pool_name",
        ),
        (stub.UpdateWorkQueue(queue_request([], **queue, paused=True)), "update_mask"),
        (stub.UpdateWorkQueue(queue_request(["description"], **queue)), "update_mask"),
        (
            stub.UpdateWorkQueue(
                queue_request(["concurrency_limit"], **queue, concurrency_limit=-1)
            ),
            "work_queue.concurrency_limit",
        ),
        (stub.UpdateWorkQueue(queue_request(["priority"], **queue)), "work_queue.priority"),
        (
            stub.UpdateWorkQueue(queue_request(["priority"], **queue, priority=-3)),
            "work_queue.priority",
        ),
    ]
    for call, field in cases:
        error = await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT, field)
        assert bad_field(error) == field, error.details()
    unknown = await expect_error(
        stub.UpdateWorkPool(pool_request(["paused", "nme"], name=pool)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "'nme'" in (unknown.details() or "")

    missing = unique("missing")
    gone = await expect_error(
        update_pool(stub, ["paused"], name=missing, paused=True), grpc.StatusCode.NOT_FOUND
    )
    assert error_reason(gone) == "WORK_POOL_NOT_FOUND"
    gone = await expect_error(
        update_queue(stub, ["paused"], work_pool_name=missing, name="default", paused=True),
        grpc.StatusCode.NOT_FOUND,
    )
    assert error_reason(gone) == "WORK_POOL_NOT_FOUND"
    gone = await expect_error(
        update_queue(stub, ["paused"], work_pool_name=pool, name="nope", paused=True),
        grpc.StatusCode.NOT_FOUND,
    )
    assert error_reason(gone) == "WORK_QUEUE_NOT_FOUND"
    # Nothing was changed by the refused calls.
    fetched = await stub.GetWorkPool(work_pb2.GetWorkPoolRequest(name=pool))
    assert (fetched.work_pool.paused, fetched.work_pool.concurrency_limit) == (False, 1)
    listed = await stub.ListWorkQueues(work_pb2.ListWorkQueuesRequest(work_pool_name=pool))
    assert [(q.name, q.priority, q.paused) for q in listed.work_queues] == [("default", 1, False)]


# --- the work stream --------------------------------------------------------------------------


async def next_item(stream: Any) -> work_pb2.SubscribeWorkResponse:
    item: work_pb2.SubscribeWorkResponse = await asyncio.wait_for(stream.read(), timeout=5)
    return item


async def wait_for_subscribers(stub: Stub, pool: str, expected: int) -> None:
    """Polls GetWorkPool until the count matches; the stream's end is seen asynchronously."""
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        found = await stub.GetWorkPool(work_pb2.GetWorkPoolRequest(name=pool))
        if found.work_pool.subscriber_count == expected:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{found.work_pool.subscriber_count} subscribers, not {expected}")
        await asyncio.sleep(0.01)


async def test_subscription_starts_pings_and_is_counted(fast_server: RunplaneServer) -> None:
    pool = unique("pool")
    async with grpc.aio.insecure_channel(fast_server.address) as channel:
        stub = Stub(channel)
        request = work_pb2.SubscribeWorkRequest(
            work_pool_name=pool, runner_name="host-1", free_slots=2
        )
        first = stub.SubscribeWork(request)
        started = (await next_item(first)).started
        assert uuid.UUID(started.session_id)
        assert uuid.UUID(started.runner_id)
        assert started.heartbeat_interval.ToTimedelta() == timedelta(seconds=5)
        ping = await next_item(first)
        assert ping.WhichOneof("item") == "ping"
        assert abs(ping.ping.time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)) < timedelta(seconds=5)
        # The pool did not exist: subscribing created it.
        await wait_for_subscribers(stub, pool, 1)

        second = stub.SubscribeWork(request)
        again = (await next_item(second)).started
        assert again.runner_id == started.runner_id
        assert again.session_id != started.session_id
        await wait_for_subscribers(stub, pool, 2)

        first.cancel()
        await wait_for_subscribers(stub, pool, 1)
        second.cancel()
        await wait_for_subscribers(stub, pool, 0)


async def test_shutdown_asks_subscribers_to_reconnect(database_url: str, tmp_path: Path) -> None:
    server = await create_server(fast_settings(database_url, tmp_path))
    await server.start()
    stopping: asyncio.Task[None] | None = None
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stream = Stub(channel).SubscribeWork(
                work_pb2.SubscribeWorkRequest(work_pool_name=unique("pool"), free_slots=1)
            )
            assert (await next_item(stream)).WhichOneof("item") == "started"
            stopping = asyncio.create_task(server.stop())
            while (item := await next_item(stream)).WhichOneof("item") == "ping":
                pass
            assert item.WhichOneof("item") == "reconnect"
            assert "shutting down" in item.reconnect.reason
            assert await asyncio.wait_for(stream.read(), timeout=5) is grpc.aio.EOF
            assert await stream.code() == grpc.StatusCode.OK
            await stopping
    finally:
        if stopping is None:
            await server.stop()


async def test_a_server_shutting_down_refuses_new_subscriptions(
    fast_server: RunplaneServer,
) -> None:
    # Shutdown has begun (streams were asked to reconnect) while calls are still served.
    fast_server.context.work_subscriptions.close_all()
    async with grpc.aio.insecure_channel(fast_server.address) as channel:
        stream = Stub(channel).SubscribeWork(
            work_pb2.SubscribeWorkRequest(work_pool_name=unique("pool"), free_slots=1)
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await next_item(stream)
    # UNAVAILABLE makes a worker back off; `started` then `reconnect` made it come straight back.
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert error_reason(refused.value) == "SHUTTING_DOWN"


async def test_subscribe_rejects_bad_input(stub: Stub) -> None:
    pool = unique("pool")
    cases: list[tuple[work_pb2.SubscribeWorkRequest, str]] = [
        (work_pb2.SubscribeWorkRequest(free_slots=1), "work_pool_name"),
        (work_pb2.SubscribeWorkRequest(work_pool_name="a/b", free_slots=1), "work_pool_name"),
        (work_pb2.SubscribeWorkRequest(work_pool_name=pool, free_slots=-3), "free_slots"),
        (
            work_pb2.SubscribeWorkRequest(
                work_pool_name=pool, free_slots=1, work_queue_names=["ok", ""]
            ),
            "work_queue_names[1]",
        ),
        (
            work_pb2.SubscribeWorkRequest(work_pool_name=pool, free_slots=1, runner_name=" "),
            "runner_name",
        ),
        (
            work_pb2.SubscribeWorkRequest(
                work_pool_name=pool, free_slots=1, held_lease_ids=["nope"]
            ),
            "held_lease_ids[0]",
        ),
    ]
    for request, field in cases:
        stream = stub.SubscribeWork(request)
        await expect_error(next_item(stream), grpc.StatusCode.INVALID_ARGUMENT, field)
    # Nothing was registered, not even the pool.
    await expect_error(
        stub.GetWorkPool(work_pb2.GetWorkPoolRequest(name=pool)), grpc.StatusCode.NOT_FOUND
    )


# --- heartbeats and releases ------------------------------------------------------------------


async def make_runs(channel: grpc.aio.Channel, count: int) -> list[uuid.UUID]:
    deployments = deployments_pb2_grpc.DeploymentServiceStub(channel)
    created = await deployments.CreateDeployment(
        deployments_pb2.CreateDeploymentRequest(
            deployment=deployments_pb2.Deployment(
                flow_name=unique("flow"), name="held", entrypoint="flows.py:main"
            )
        )
    )
    runs = []
    for _ in range(count):
        response = await deployments.RunDeployment(
            deployments_pb2.RunDeploymentRequest(deployment_id=created.deployment.id)
        )
        runs.append(uuid.UUID(response.flow_run.id))
    return runs


async def set_run(server: RunplaneServer, run_id: uuid.UUID, **values: Any) -> None:
    """Puts a run where a claim or another service would have put it."""
    async with server.context.database.write() as conn:
        await conn.execute(sa.update(flow_run).where(flow_run.c.id == run_id).values(**values))


async def read_run(server: RunplaneServer, run_id: uuid.UUID) -> Any:
    async with server.context.database.read() as conn:
        return (await conn.execute(sa.select(flow_run).where(flow_run.c.id == run_id))).one()


async def test_heartbeat_answers_runs_to_cancel_and_to_forget(
    server: RunplaneServer, channel: grpc.aio.Channel, stub: Stub
) -> None:
    running, cancelling, finished, scheduled = await make_runs(channel, 4)
    lease = uuid.uuid4()
    await set_run(
        server,
        running,
        state_type=states_pb2.STATE_TYPE_RUNNING,
        lease_id=lease,
        lease_expire_time=datetime.now(UTC),
    )
    await set_run(server, cancelling, state_type=states_pb2.STATE_TYPE_CANCELLING)
    await set_run(server, finished, state_type=states_pb2.STATE_TYPE_COMPLETED)
    missing = uuid.uuid4()
    before = datetime.now(UTC)
    listed = [running, cancelling, finished, scheduled, missing, running]
    answer = await stub.Heartbeat(
        work_pb2.HeartbeatRequest(
            runner_id=str(uuid.uuid4()),
            session_id=str(uuid.uuid4()),
            running_flow_run_ids=[str(i) for i in listed],
            free_slots=1,
        )
    )
    assert list(answer.cancel_flow_run_ids) == [str(cancelling)]
    assert list(answer.unknown_flow_run_ids) == [str(scheduled), str(missing)]
    assert list(answer.finished_flow_run_ids) == [str(finished)]
    expires = answer.lease_expire_time.ToDatetime(tzinfo=UTC)
    assert before + timedelta(seconds=29) <= expires <= datetime.now(UTC) + timedelta(seconds=31)

    held = await read_run(server, running)
    assert held.heartbeat_time is not None
    assert held.heartbeat_time >= before - timedelta(seconds=1)
    assert held.lease_expire_time == expires
    assert (await read_run(server, cancelling)).heartbeat_time is not None
    assert (await read_run(server, finished)).heartbeat_time is None
    assert (await read_run(server, scheduled)).heartbeat_time is None

    empty = await stub.Heartbeat(
        work_pb2.HeartbeatRequest(runner_id=str(uuid.uuid4()), session_id=str(uuid.uuid4()))
    )
    assert not empty.cancel_flow_run_ids
    assert not empty.unknown_flow_run_ids
    assert not empty.finished_flow_run_ids
    assert empty.HasField("lease_expire_time")


async def test_heartbeat_rejects_bad_input(stub: Stub) -> None:
    good = {"runner_id": str(uuid.uuid4()), "session_id": str(uuid.uuid4())}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "runner_id": ""}, "runner_id"),
        ({**good, "runner_id": "nope"}, "runner_id"),
        ({**good, "session_id": "nope"}, "session_id"),
        ({**good, "running_flow_run_ids": [str(uuid.uuid4()), "x"]}, "running_flow_run_ids[1]"),
        ({**good, "free_slots": -1}, "free_slots"),
    ]
    for fields, field in cases:
        await expect_error(
            stub.Heartbeat(work_pb2.HeartbeatRequest(**fields)),
            grpc.StatusCode.INVALID_ARGUMENT,
            field,
        )


async def test_release_gives_the_run_back_unless_the_lease_is_stale(
    server: RunplaneServer, channel: grpc.aio.Channel, stub: Stub
) -> None:
    (run_id,) = await make_runs(channel, 1)
    lease = uuid.uuid4()
    await set_run(
        server,
        run_id,
        state_type=states_pb2.STATE_TYPE_PENDING,
        state_name="Pending",
        state_timestamp=datetime.now(UTC) + timedelta(seconds=1),
        lease_id=lease,
        lease_expire_time=datetime.now(UTC) + timedelta(seconds=30),
        attempt=3,
    )
    stale = await expect_error(
        stub.ReleaseAssignment(
            work_pb2.ReleaseAssignmentRequest(
                flow_run_id=str(run_id), lease_id=str(uuid.uuid4()), reason="x"
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(stale) == "STALE_LEASE"
    assert (await read_run(server, run_id)).state_type == states_pb2.STATE_TYPE_PENDING

    await stub.ReleaseAssignment(
        work_pb2.ReleaseAssignmentRequest(
            flow_run_id=str(run_id), lease_id=str(lease), reason="could not start"
        )
    )
    released = await read_run(server, run_id)
    assert released.state_type == states_pb2.STATE_TYPE_SCHEDULED
    assert released.state_name == "Scheduled"
    assert released.state_message == "released: could not start"
    assert released.lease_id is None
    assert released.lease_expire_time is None
    assert released.attempt == 3
    assert set(released.state_details) == {"scheduled_time"}
    async with server.context.database.read() as conn:
        history = (
            await conn.execute(
                sa.select(flow_run_state.c.type, flow_run_state.c.message, flow_run_state.c.id)
                .where(flow_run_state.c.flow_run_id == run_id)
                .order_by(flow_run_state.c.timestamp)
            )
        ).all()
    assert [(h.type, h.message) for h in history] == [
        (states_pb2.STATE_TYPE_SCHEDULED, ""),
        (states_pb2.STATE_TYPE_SCHEDULED, "released: could not start"),
    ]
    assert history[-1].id == released.state_id

    again = await expect_error(
        stub.ReleaseAssignment(
            work_pb2.ReleaseAssignmentRequest(flow_run_id=str(run_id), lease_id=str(lease))
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(again) == "STALE_LEASE"


async def test_release_rejects_bad_input(stub: Stub) -> None:
    lease = str(uuid.uuid4())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"lease_id": lease}, "flow_run_id"),
        ({"flow_run_id": "nope", "lease_id": lease}, "flow_run_id"),
        ({"flow_run_id": str(uuid.uuid4())}, "lease_id"),
        ({"flow_run_id": str(uuid.uuid4()), "lease_id": "nope"}, "lease_id"),
        ({"flow_run_id": str(uuid.uuid4()), "lease_id": lease, "reason": "r" * 20_000}, "reason"),
    ]
    for fields, field in cases:
        await expect_error(
            stub.ReleaseAssignment(work_pb2.ReleaseAssignmentRequest(**fields)),
            grpc.StatusCode.INVALID_ARGUMENT,
            field,
        )
    await expect_error(
        stub.ReleaseAssignment(
            work_pb2.ReleaseAssignmentRequest(flow_run_id=str(uuid.uuid4()), lease_id=lease)
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_a_started_run_cannot_be_released(
    server: RunplaneServer, channel: grpc.aio.Channel, stub: Stub
) -> None:
    (run_id,) = await make_runs(channel, 1)
    lease = uuid.uuid4()
    await set_run(server, run_id, state_type=states_pb2.STATE_TYPE_RUNNING, lease_id=lease)
    error = await expect_error(
        stub.ReleaseAssignment(
            work_pb2.ReleaseAssignmentRequest(flow_run_id=str(run_id), lease_id=str(lease))
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(error) == "NOT_PENDING"
    assert (await read_run(server, run_id)).state_type == states_pb2.STATE_TYPE_RUNNING
