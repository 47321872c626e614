"""DeploymentService through a real server."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2

from runplane.server import RunplaneServer
from runplane.server.db.tables import flow_run, flow_run_state
from runplane.v1 import (
    deployments_pb2,
    deployments_pb2_grpc,
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2,
    flows_pb2_grpc,
    states_pb2,
    work_pb2,
    work_pb2_grpc,
)

pytestmark = pytest.mark.anyio

Stub = deployments_pb2_grpc.DeploymentServiceStub


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def as_json(value: dict[str, Any]) -> str:
    """Compact JSON text, as the server writes it out, so that messages compare equal."""
    return json.dumps(value, separators=(",", ":"))


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def deployment(**fields: Any) -> deployments_pb2.Deployment:
    values: dict[str, Any] = {
        "flow_name": unique("flow"),
        "name": unique("nightly"),
        "entrypoint": "flows/etl.py:run",
    }
    values.update(fields)
    return deployments_pb2.Deployment(**values)


@pytest.fixture
async def channel(server: RunplaneServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as opened:
        yield opened


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> Stub:
    return Stub(channel)


async def create(stub: Stub, **fields: Any) -> deployments_pb2.Deployment:
    response = await stub.CreateDeployment(
        deployments_pb2.CreateDeploymentRequest(deployment=deployment(**fields))
    )
    return response.deployment


async def expect_error(call: Any, code: grpc.StatusCode, text: str = "") -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    assert text in (caught.value.details() or "")
    return caught.value


# --- CreateDeployment -------------------------------------------------------------------------


async def test_create_registers_the_flow_and_the_pool(
    stub: Stub, channel: grpc.aio.Channel
) -> None:
    pool = unique("pool")
    created = await stub.CreateDeployment(
        deployments_pb2.CreateDeploymentRequest(
            deployment=deployment(work_pool_name=pool, tags=["etl"], version="1.2")
        )
    )
    assert created.created
    stored = created.deployment
    assert uuid.UUID(stored.id)
    assert stored.work_pool_name == pool
    assert stored.work_queue_name == "default"
    assert list(stored.tags) == ["etl"]
    assert stored.version == "1.2"
    assert stored.HasField("create_time")
    assert not stored.HasField("concurrency_limit")
    flows = flows_pb2_grpc.FlowServiceStub(channel)
    found = await flows.GetFlow(flows_pb2.GetFlowRequest(name=stored.flow_name))
    assert found.flow.id == stored.flow_id
    work = work_pb2_grpc.WorkServiceStub(channel)
    queues = await work.ListWorkQueues(work_pb2.ListWorkQueuesRequest(work_pool_name=pool))
    assert [q.name for q in queues.work_queues] == ["default"]


async def test_create_again_updates_the_same_deployment(stub: Stub) -> None:
    first = await create(stub, description="v1", concurrency_limit=2, enforce_parameter_schema=True)
    again = await stub.CreateDeployment(
        deployments_pb2.CreateDeploymentRequest(
            deployment=deployment(
                flow_name=first.flow_name,
                name=first.name,
                entrypoint="pkg.module:main",
                description="v2",
            )
        )
    )
    assert not again.created
    updated = again.deployment
    assert updated.id == first.id
    assert updated.create_time == first.create_time
    assert updated.entrypoint == "pkg.module:main"
    assert updated.description == "v2"
    # Every field is replaced, including what proto3 cannot tell from its default.
    assert not updated.HasField("concurrency_limit")
    assert not updated.enforce_parameter_schema


async def test_create_by_flow_id(stub: Stub, channel: grpc.aio.Channel) -> None:
    flows = flows_pb2_grpc.FlowServiceStub(channel)
    registered = (await flows.CreateFlow(flows_pb2.CreateFlowRequest(name=unique("f")))).flow
    stored = await create(stub, flow_name="", flow_id=registered.id)
    assert stored.flow_name == registered.name
    same = await create(stub, flow_name=registered.name, flow_id=registered.id)
    assert same.flow_id == registered.id
    await expect_error(
        stub.CreateDeployment(
            deployments_pb2.CreateDeploymentRequest(
                deployment=deployment(flow_id=registered.id, flow_name=unique("other"))
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "deployment.flow_name",
    )
    await expect_error(
        stub.CreateDeployment(
            deployments_pb2.CreateDeploymentRequest(
                deployment=deployment(flow_name="", flow_id=str(uuid.uuid4()))
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )


def schedules() -> list[deployments_pb2.DeploymentSchedule]:
    anchor = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    return [
        deployments_pb2.DeploymentSchedule(
            active=True,
            parameters_json=as_json({"region": "eu"}),
            catchup=deployments_pb2.CATCHUP_POLICY_LATEST_ONLY,
            cron=deployments_pb2.CronSchedule(
                expression="0 9 * * MON-FRI", timezone="Europe/Paris", day_or=True
            ),
        ),
        deployments_pb2.DeploymentSchedule(
            active=False,
            parameters_json=as_json({}),
            catchup=deployments_pb2.CATCHUP_POLICY_SKIP_MISSED,
            interval=deployments_pb2.IntervalSchedule(
                interval=duration_pb2.Duration(seconds=90, nanos=500_000_000),
                anchor_time=timestamp(anchor),
                timezone="America/New_York",
            ),
        ),
        deployments_pb2.DeploymentSchedule(
            active=True,
            parameters_json=as_json({}),
            rrule=deployments_pb2.RRuleSchedule(
                rrule="DTSTART:20240101T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE", timezone="UTC"
            ),
        ),
    ]


def without_ids(
    items: Any,
) -> list[deployments_pb2.DeploymentSchedule]:
    copies = []
    for item in items:
        copy = deployments_pb2.DeploymentSchedule()
        copy.CopyFrom(item)
        copy.ClearField("id")
        copies.append(copy)
    return copies


async def test_schedules_round_trip_and_are_replaced_whole(stub: Stub) -> None:
    stored = await create(stub, schedules=schedules())
    assert len(stored.schedules) == 3
    assert all(uuid.UUID(s.id) for s in stored.schedules)
    assert without_ids(stored.schedules) == schedules()
    fetched = await stub.GetDeployment(
        deployments_pb2.GetDeploymentRequest(deployment_id=stored.id)
    )
    assert list(fetched.deployment.schedules) == list(stored.schedules)

    replaced = await create(
        stub, flow_name=stored.flow_name, name=stored.name, schedules=schedules()[2:]
    )
    assert without_ids(replaced.schedules) == schedules()[2:]
    cleared = await create(stub, flow_name=stored.flow_name, name=stored.name)
    assert list(cleared.schedules) == []


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        (deployments_pb2.DeploymentSchedule(active=True), "deployment.schedules[0]"),
        (
            deployments_pb2.DeploymentSchedule(cron=deployments_pb2.CronSchedule(expression="")),
            "deployment.schedules[0].cron.expression",
        ),
        (
            deployments_pb2.DeploymentSchedule(
                cron=deployments_pb2.CronSchedule(expression="0 9 * *")
            ),
            "deployment.schedules[0].cron.expression",
        ),
        (
            deployments_pb2.DeploymentSchedule(
                cron=deployments_pb2.CronSchedule(expression="61 * * * *")
            ),
            "deployment.schedules[0].cron.expression",
        ),
        (
            deployments_pb2.DeploymentSchedule(
                cron=deployments_pb2.CronSchedule(expression="0 9 * * *", timezone="Mars/Base")
            ),
            "deployment.schedules[0].cron.timezone",
        ),
        (
            deployments_pb2.DeploymentSchedule(
                interval=deployments_pb2.IntervalSchedule(
                    interval=duration_pb2.Duration(nanos=500_000_000)
                )
            ),
            "deployment.schedules[0].interval.interval",
        ),
        (
            deployments_pb2.DeploymentSchedule(
                interval=deployments_pb2.IntervalSchedule(
                    interval=duration_pb2.Duration(seconds=60), timezone="Nowhere/Town"
                )
            ),
            "deployment.schedules[0].interval.timezone",
        ),
        (
            deployments_pb2.DeploymentSchedule(rrule=deployments_pb2.RRuleSchedule(rrule="")),
            "deployment.schedules[0].rrule.rrule",
        ),
        (
            deployments_pb2.DeploymentSchedule(
                rrule=deployments_pb2.RRuleSchedule(rrule="EVERY=DAY")
            ),
            "deployment.schedules[0].rrule.rrule",
        ),
        (
            deployments_pb2.DeploymentSchedule(
                rrule=deployments_pb2.RRuleSchedule(rrule="FREQ=DAILY", timezone="Atlantis")
            ),
            "deployment.schedules[0].rrule.timezone",
        ),
        (
            deployments_pb2.DeploymentSchedule(
                catchup=42,  # type: ignore[arg-type]
                cron=deployments_pb2.CronSchedule(expression="* * * * *"),
            ),
            "deployment.schedules[0].catchup",
        ),
    ],
)
async def test_invalid_schedules_name_their_field(
    stub: Stub, schedule: deployments_pb2.DeploymentSchedule, field: str
) -> None:
    error = await expect_error(
        stub.CreateDeployment(
            deployments_pb2.CreateDeploymentRequest(deployment=deployment(schedules=[schedule]))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field,
    )
    assert (error.details() or "").startswith(f"{field}:")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "deployment.name"),
        ({"name": "a/b"}, "deployment.name"),
        ({"flow_name": ""}, "deployment.flow_name"),
        ({"flow_name": "", "flow_id": "not-a-uuid"}, "deployment.flow_id"),
        ({"entrypoint": ""}, "deployment.entrypoint"),
        ({"entrypoint": "flows/etl.py"}, "deployment.entrypoint"),
        ({"entrypoint": "flows/etl.py:"}, "deployment.entrypoint"),
        ({"entrypoint": "a:b:c"}, "deployment.entrypoint"),
        ({"entrypoint": ":run"}, "deployment.entrypoint"),
        ({"entrypoint": "mod:not-an-identifier"}, "deployment.entrypoint"),
        ({"concurrency_limit": -1}, "deployment.concurrency_limit"),
        ({"collision_strategy": 9}, "deployment.collision_strategy"),
        ({"tags": [""]}, "deployment.tags[0]"),
        ({"work_pool_name": "a/b"}, "deployment.work_pool_name"),
        ({"work_queue_name": " "}, "deployment.work_queue_name"),
        ({"version": "v" * 300}, "deployment.version"),
    ],
)
async def test_create_rejects_bad_input(stub: Stub, fields: dict[str, Any], field: str) -> None:
    await expect_error(
        stub.CreateDeployment(
            deployments_pb2.CreateDeploymentRequest(deployment=deployment(**fields))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field,
    )


async def test_create_needs_a_deployment(stub: Stub) -> None:
    await expect_error(
        stub.CreateDeployment(deployments_pb2.CreateDeploymentRequest()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "deployment",
    )


# --- GetDeployment, ListDeployments --------------------------------------------------------


async def test_get_by_id_and_by_name(stub: Stub) -> None:
    stored = await create(stub)
    by_id = await stub.GetDeployment(deployments_pb2.GetDeploymentRequest(deployment_id=stored.id))
    by_name = await stub.GetDeployment(
        deployments_pb2.GetDeploymentRequest(name=f"{stored.flow_name}/{stored.name}")
    )
    assert by_id.deployment == stored
    assert by_name.deployment == stored
    await expect_error(
        stub.GetDeployment(deployments_pb2.GetDeploymentRequest(deployment_id=str(uuid.uuid4()))),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        stub.GetDeployment(deployments_pb2.GetDeploymentRequest(name=f"{stored.flow_name}/nope")),
        grpc.StatusCode.NOT_FOUND,
    )


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({}, "deployment_id"),
        ({"deployment_id": str(uuid.uuid4()), "name": "a/b"}, "deployment_id"),
        ({"deployment_id": "nope"}, "deployment_id"),
        ({"name": "no-slash"}, "name"),
        ({"name": "/deployment"}, "name"),
        ({"name": "flow/"}, "name"),
    ],
)
async def test_get_rejects_bad_input(
    stub: Stub, request_fields: dict[str, str], field: str
) -> None:
    await expect_error(
        stub.GetDeployment(deployments_pb2.GetDeploymentRequest(**request_fields)),
        grpc.StatusCode.INVALID_ARGUMENT,
        field,
    )


async def test_list_pages_by_flow_and_name_with_filters(stub: Stub) -> None:
    pool = unique("pool")
    flow_a, flow_b = unique("a-flow"), unique("b-flow")
    made = [
        await create(stub, flow_name=flow_b, name="one", work_pool_name=pool),
        await create(stub, flow_name=flow_a, name="two", work_pool_name=pool),
        await create(stub, flow_name=flow_a, name="one", work_pool_name=pool),
        await create(stub, flow_name=flow_a, name="three"),
    ]
    seen: list[tuple[str, str]] = []
    token = ""
    while True:
        page = await stub.ListDeployments(
            deployments_pb2.ListDeploymentsRequest(
                page_size=2, page_token=token, work_pool_name=pool
            )
        )
        assert len(page.deployments) <= 2
        seen += [(d.flow_name, d.name) for d in page.deployments]
        token = page.next_page_token
        if not token:
            break
    assert seen == [(flow_a, "one"), (flow_a, "two"), (flow_b, "one")]
    by_flow = await stub.ListDeployments(deployments_pb2.ListDeploymentsRequest(flow_name=flow_a))
    assert [d.name for d in by_flow.deployments] == ["one", "three", "two"]
    assert {d.id for d in by_flow.deployments} == {m.id for m in made[1:]}
    first = await stub.ListDeployments(
        deployments_pb2.ListDeploymentsRequest(page_size=1, work_pool_name=pool)
    )
    await expect_error(
        stub.ListDeployments(
            deployments_pb2.ListDeploymentsRequest(page_token=first.next_page_token)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    )


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [({"page_size": -1}, "page_size"), ({"page_token": "garbage!"}, "page_token")],
)
async def test_list_rejects_bad_input(
    stub: Stub, request_fields: dict[str, Any], field: str
) -> None:
    await expect_error(
        stub.ListDeployments(deployments_pb2.ListDeploymentsRequest(**request_fields)),
        grpc.StatusCode.INVALID_ARGUMENT,
        field,
    )


# --- UpdateDeployment ----------------------------------------------------------------------


async def update(
    stub: Stub, deployment_id: str, paths: list[str], **fields: Any
) -> deployments_pb2.Deployment:
    response = await stub.UpdateDeployment(
        deployments_pb2.UpdateDeploymentRequest(
            deployment=deployments_pb2.Deployment(id=deployment_id, **fields),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        )
    )
    return response.deployment


async def test_update_changes_only_the_masked_fields(stub: Stub, channel: grpc.aio.Channel) -> None:
    pool = unique("pool")
    stored = await create(
        stub,
        description="keep",
        tags=["a"],
        parameters_json=as_json({"x": 1}),
        work_pool_name=pool,
        concurrency_limit=3,
        schedules=schedules(),
    )
    changed = await update(
        stub,
        stored.id,
        ["paused", "tags", "parameters_json", "job_variables_json", "version"],
        paused=True,
        tags=["b", "c"],
        parameters_json=as_json({"y": 2}),
        job_variables_json=as_json({"env": {"A": "1"}}),
        version="2.0",
        description="ignored: not in the mask",
    )
    assert changed.paused
    assert list(changed.tags) == ["b", "c"]
    assert json.loads(changed.parameters_json) == {"y": 2}
    assert json.loads(changed.job_variables_json) == {"env": {"A": "1"}}
    assert changed.version == "2.0"
    assert changed.description == "keep"
    assert changed.concurrency_limit == 3
    assert list(changed.schedules) == list(stored.schedules)
    assert changed.update_time.ToDatetime() >= stored.update_time.ToDatetime()

    changed = await update(
        stub,
        stored.id,
        ["concurrency_limit", "collision_strategy", "description", "schedules"],
        collision_strategy=deployments_pb2.COLLISION_STRATEGY_CANCEL_NEW,
        description="new",
        schedules=schedules()[:1],
    )
    assert not changed.HasField("concurrency_limit")
    assert changed.collision_strategy == deployments_pb2.COLLISION_STRATEGY_CANCEL_NEW
    assert changed.description == "new"
    assert without_ids(changed.schedules) == schedules()[:1]

    changed = await update(stub, stored.id, ["work_queue_name"], work_queue_name="urgent")
    assert changed.work_queue_name == "urgent"
    work = work_pb2_grpc.WorkServiceStub(channel)
    queues = await work.ListWorkQueues(work_pb2.ListWorkQueuesRequest(work_pool_name=pool))
    assert [q.name for q in queues.work_queues] == ["default", "urgent"]
    fetched = await stub.GetDeployment(
        deployments_pb2.GetDeploymentRequest(deployment_id=stored.id)
    )
    assert fetched.deployment == changed


async def test_update_rejects_bad_input(stub: Stub) -> None:
    stored = await create(stub)
    cases: list[tuple[deployments_pb2.UpdateDeploymentRequest, str]] = [
        (deployments_pb2.UpdateDeploymentRequest(), "deployment"),
        (
            deployments_pb2.UpdateDeploymentRequest(
                deployment=deployments_pb2.Deployment(id="nope"),
                update_mask=field_mask_pb2.FieldMask(paths=["paused"]),
            ),
            "deployment.id",
        ),
        (
            deployments_pb2.UpdateDeploymentRequest(
                deployment=deployments_pb2.Deployment(id=stored.id)
            ),
            "update_mask",
        ),
        (
            deployments_pb2.UpdateDeploymentRequest(
                deployment=deployments_pb2.Deployment(id=stored.id, name="renamed"),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
            ),
            "update_mask",
        ),
        (
            deployments_pb2.UpdateDeploymentRequest(
                deployment=deployments_pb2.Deployment(id=stored.id, collision_strategy=5),  # type: ignore[arg-type]
                update_mask=field_mask_pb2.FieldMask(paths=["collision_strategy"]),
            ),
            "deployment.collision_strategy",
        ),
        (
            deployments_pb2.UpdateDeploymentRequest(
                deployment=deployments_pb2.Deployment(id=stored.id, concurrency_limit=-2),
                update_mask=field_mask_pb2.FieldMask(paths=["concurrency_limit"]),
            ),
            "deployment.concurrency_limit",
        ),
        (
            deployments_pb2.UpdateDeploymentRequest(
                deployment=deployments_pb2.Deployment(
                    id=stored.id,
                    schedules=[
                        deployments_pb2.DeploymentSchedule(
                            cron=deployments_pb2.CronSchedule(expression="bad")
                        )
                    ],
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["schedules"]),
            ),
            "deployment.schedules[0].cron.expression",
        ),
    ]
    for request, field in cases:
        await expect_error(stub.UpdateDeployment(request), grpc.StatusCode.INVALID_ARGUMENT, field)
    await expect_error(
        update(stub, str(uuid.uuid4()), ["paused"], paused=True), grpc.StatusCode.NOT_FOUND
    )
    unchanged = await stub.GetDeployment(
        deployments_pb2.GetDeploymentRequest(deployment_id=stored.id)
    )
    assert unchanged.deployment == stored


# --- RunDeployment -------------------------------------------------------------------------
async def test_runs_racing_deletes_of_their_flow_are_created_or_not_found(
    stub: Stub, channel: grpc.aio.Channel
) -> None:
    flows = flows_pb2_grpc.FlowServiceStub(channel)
    created = [await create(stub) for _ in range(20)]

    async def run(target: deployments_pb2.Deployment, key: str) -> grpc.StatusCode:
        request = deployments_pb2.RunDeploymentRequest(deployment_id=target.id, idempotency_key=key)
        try:
            await stub.RunDeployment(request)
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    async def delete_flow(target: deployments_pb2.Deployment) -> grpc.StatusCode:
        await flows.DeleteFlow(flows_pb2.DeleteFlowRequest(flow_id=target.flow_id))
        return grpc.StatusCode.OK

    calls = []
    for target in created:
        calls += [run(target, f"k{i}") for i in range(4)]
        calls.append(delete_flow(target))
    codes = await asyncio.gather(*calls)
    # Each run is created before the delete (which then removes it with its flow) or finds
    # the deployment gone; a foreign key broken under a racing delete would be INTERNAL, and
    # locks taken in another order than the delete's would deadlock (UNAVAILABLE).
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND}


async def run(stub: Stub, deployment_id: str, **fields: Any) -> Any:
    response = await stub.RunDeployment(
        deployments_pb2.RunDeploymentRequest(deployment_id=deployment_id, **fields)
    )
    return response.flow_run


async def test_run_merges_the_request_over_the_deployment(stub: Stub) -> None:
    pool = unique("pool")
    stored = await create(
        stub,
        parameters_json=as_json({"x": 1, "y": "keep"}),
        tags=["etl", "nightly"],
        job_variables_json=as_json({"env": {"A": "1", "B": "2"}, "image": "base"}),
        work_pool_name=pool,
        work_queue_name="q1",
        version="7",
    )
    due = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    created = await run(
        stub,
        stored.id,
        parameters_json=as_json({"x": 10, "z": [1, 2]}),
        tags=["nightly", "manual"],
        job_variables_json=as_json({"env": {"B": "3"}}),
        scheduled_start_time=timestamp(due),
        name="by-hand",
    )
    assert created.name == "by-hand"
    assert created.deployment_id == stored.id
    assert created.flow_id == stored.flow_id
    assert created.flow_name == stored.flow_name
    assert json.loads(created.parameters_json) == {"x": 10, "y": "keep", "z": [1, 2]}
    assert list(created.tags) == ["etl", "nightly", "manual"]
    assert json.loads(created.job_variables_json) == {"env": {"A": "1", "B": "3"}, "image": "base"}
    assert (created.work_pool_name, created.work_queue_name) == (pool, "q1")
    assert created.flow_version == "7"
    assert created.attempt == 0
    assert created.state.type == states_pb2.STATE_TYPE_SCHEDULED
    assert created.state.name == "Scheduled"
    assert created.state.details.scheduled_time == timestamp(due)
    assert created.next_scheduled_start_time == timestamp(due)
    assert created.expected_start_time == timestamp(due)


async def test_run_is_due_now_by_default_and_named(stub: Stub, server: RunplaneServer) -> None:
    stored = await create(stub)
    before = datetime.now(UTC)
    created = await run(stub, stored.id)
    after = datetime.now(UTC)
    due = created.state.details.scheduled_time.ToDatetime(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= due <= after + timedelta(seconds=1)
    assert created.next_scheduled_start_time == created.state.details.scheduled_time
    assert created.name.startswith(stored.name)
    async with server.context.database.read() as conn:
        states = (
            await conn.execute(
                sa.select(flow_run_state.c.type, flow_run_state.c.details).where(
                    flow_run_state.c.flow_run_id == uuid.UUID(created.id)
                )
            )
        ).all()
    assert [state.type for state in states] == [states_pb2.STATE_TYPE_SCHEDULED]
    assert set(states[0].details) == {"scheduled_time"}


async def test_run_reads_back_the_same_through_the_flow_run_service(
    stub: Stub, channel: grpc.aio.Channel
) -> None:
    stored = await create(stub, tags=["t"], parameters_json=as_json({"x": 1}), version="3")
    created = await run(
        stub, stored.id, scheduled_start_time=timestamp(datetime(2031, 5, 6, tzinfo=UTC))
    )
    runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    fetched = await runs.GetFlowRun(flow_runs_pb2.GetFlowRunRequest(flow_run_id=created.id))
    assert fetched.flow_run == created


async def test_run_with_an_idempotency_key_returns_the_first_run(stub: Stub) -> None:
    stored = await create(stub)
    key = unique("key")
    first = await run(stub, stored.id, idempotency_key=key)
    again = await run(stub, stored.id, idempotency_key=key, parameters_json=as_json({"other": 1}))
    other = await run(stub, stored.id, idempotency_key=unique("key"))
    assert again == first
    assert other.id != first.id
    assert first.idempotency_key == key


async def test_run_enforces_the_parameter_schema(stub: Stub) -> None:
    schema = {
        "type": "object",
        "properties": {"x": {"type": "integer"}, "y": {"type": "string"}},
        "required": ["x"],
        "additionalProperties": False,
    }
    strict = await create(
        stub, parameter_schema_json=as_json(schema), enforce_parameter_schema=True
    )
    await expect_error(
        run(stub, strict.id, parameters_json=as_json({"y": "a"})),
        grpc.StatusCode.INVALID_ARGUMENT,
        "parameters.x",
    )
    await expect_error(
        run(stub, strict.id, parameters_json=as_json({"x": 1, "w": 2})),
        grpc.StatusCode.INVALID_ARGUMENT,
        "parameters.w",
    )
    accepted = await run(stub, strict.id, parameters_json=as_json({"x": 1}))
    assert json.loads(accepted.parameters_json) == {"x": 1}

    defaults = await create(
        stub,
        parameter_schema_json=as_json(schema),
        enforce_parameter_schema=True,
        parameters_json=as_json({"x": 5}),
    )
    assert json.loads((await run(stub, defaults.id)).parameters_json) == {"x": 5}
    loose = await create(
        stub, parameter_schema_json=as_json(schema), enforce_parameter_schema=False
    )
    loose_run = await run(stub, loose.id, parameters_json=as_json({"w": 1}))
    assert json.loads(loose_run.parameters_json) == {"w": 1}


async def test_run_rejects_bad_input(stub: Stub) -> None:
    stored = await create(stub)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"deployment_id": ""}, "deployment_id"),
        ({"deployment_id": "nope"}, "deployment_id"),
        ({"tags": [""]}, "tags[0]"),
        ({"name": " "}, "name"),
        ({"idempotency_key": "k" * 600}, "idempotency_key"),
        (
            {"scheduled_start_time": timestamp_pb2.Timestamp(seconds=10**12)},
            "scheduled_start_time",
        ),
    ]
    for fields, field in cases:
        request = deployments_pb2.RunDeploymentRequest(deployment_id=stored.id)
        for key, value in fields.items():
            if isinstance(value, timestamp_pb2.Timestamp):
                getattr(request, key).CopyFrom(value)
            elif isinstance(value, list):
                getattr(request, key).extend(value)
            else:
                setattr(request, key, value)
        await expect_error(stub.RunDeployment(request), grpc.StatusCode.INVALID_ARGUMENT, field)
    await expect_error(run(stub, str(uuid.uuid4())), grpc.StatusCode.NOT_FOUND)


# --- DeleteDeployment ----------------------------------------------------------------------


async def test_delete_removes_the_deployment_and_its_scheduled_runs(
    stub: Stub, server: RunplaneServer
) -> None:
    stored = await create(stub, schedules=schedules())
    waiting = await run(stub, stored.id)
    started = await run(stub, stored.id)
    async with server.context.database.write() as conn:
        await conn.execute(
            sa.update(flow_run)
            .where(flow_run.c.id == uuid.UUID(started.id))
            .values(state_type=states_pb2.STATE_TYPE_RUNNING, state_name="Running")
        )
    await stub.DeleteDeployment(deployments_pb2.DeleteDeploymentRequest(deployment_id=stored.id))
    await expect_error(
        stub.GetDeployment(deployments_pb2.GetDeploymentRequest(deployment_id=stored.id)),
        grpc.StatusCode.NOT_FOUND,
    )
    async with server.context.database.read() as conn:
        left = (
            await conn.execute(
                sa.select(flow_run.c.id).where(
                    flow_run.c.id.in_([uuid.UUID(waiting.id), uuid.UUID(started.id)])
                )
            )
        ).scalars()
        assert list(left) == [uuid.UUID(started.id)]
    await expect_error(
        stub.DeleteDeployment(deployments_pb2.DeleteDeploymentRequest(deployment_id=stored.id)),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        stub.DeleteDeployment(deployments_pb2.DeleteDeploymentRequest(deployment_id="x")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "deployment_id",
    )


# --- Retry policy ------------------------------------------------------------------------------


def policy(retries: int, delays: list[float]) -> states_pb2.RetryPolicy:
    return states_pb2.RetryPolicy(retries=retries, retry_delay_seconds=delays)


async def test_retry_policy_round_trips_through_create_get_and_update(stub: Stub) -> None:
    plain = await create(stub)
    assert plain.retry_policy == policy(0, [])

    stored = await create(stub, retry_policy=policy(2, [1.5, 30]))
    assert stored.retry_policy == policy(2, [1.5, 30])
    fetched = await stub.GetDeployment(
        deployments_pb2.GetDeploymentRequest(name=f"{stored.flow_name}/{stored.name}")
    )
    assert fetched.deployment.retry_policy == policy(2, [1.5, 30])

    kept = await update(stub, stored.id, ["paused"], paused=True, retry_policy=policy(9, []))
    assert kept.retry_policy == policy(2, [1.5, 30])
    changed = await update(stub, stored.id, ["retry_policy"], retry_policy=policy(1, [5]))
    assert changed.retry_policy == policy(1, [5])
    cleared = await update(stub, stored.id, ["retry_policy"])
    assert cleared.retry_policy == policy(0, [])
    fetched = await stub.GetDeployment(
        deployments_pb2.GetDeploymentRequest(deployment_id=stored.id)
    )
    assert fetched.deployment == cleared


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (policy(-1, []), "deployment.retry_policy.retries"),
        (policy(10_001, []), "deployment.retry_policy.retries"),
        (policy(1, [2, -1]), "deployment.retry_policy.retry_delay_seconds[1]"),
        (policy(1, [float("nan")]), "deployment.retry_policy.retry_delay_seconds[0]"),
        (policy(1, [1.0] * 101), "deployment.retry_policy.retry_delay_seconds"),
    ],
)
async def test_retry_policy_rejects_bad_values(
    stub: Stub, given: states_pb2.RetryPolicy, field: str
) -> None:
    await expect_error(
        stub.CreateDeployment(
            deployments_pb2.CreateDeploymentRequest(deployment=deployment(retry_policy=given))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field,
    )
    stored = await create(stub, retry_policy=policy(3, [1]))
    await expect_error(
        update(stub, stored.id, ["retry_policy"], retry_policy=given),
        grpc.StatusCode.INVALID_ARGUMENT,
        field,
    )
    unchanged = await stub.GetDeployment(
        deployments_pb2.GetDeploymentRequest(deployment_id=stored.id)
    )
    assert unchanged.deployment.retry_policy == policy(3, [1])


async def test_runs_of_the_deployment_carry_its_retry_policy(
    stub: Stub, channel: grpc.aio.Channel
) -> None:
    every_minute = deployments_pb2.DeploymentSchedule(
        active=True,
        interval=deployments_pb2.IntervalSchedule(interval=duration_pb2.Duration(seconds=60)),
    )
    stored = await create(stub, retry_policy=policy(2, [0.5, 4]), schedules=[every_minute])
    created = await run(stub, stored.id)
    assert created.retry_policy == policy(2, [0.5, 4])

    runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
    listed = await runs.ListFlowRuns(
        flow_runs_pb2.ListFlowRunsRequest(
            filter=flow_runs_pb2.FlowRunFilter(deployment_ids=[stored.id]), page_size=200
        )
    )
    scheduled = [r for r in listed.flow_runs if "auto-scheduled" in r.tags]
    assert scheduled, "the schedule created no runs"
    assert all(r.retry_policy == policy(2, [0.5, 4]) for r in scheduled)
    assert {r.id for r in listed.flow_runs} >= {created.id}
