"""ConcurrencyService through a real server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from delivery_support import ManualClock, serving
from google.protobuf import duration_pb2

from runplane.server import RunplaneServer, ServerSettings
from runplane.v1 import concurrency_pb2 as pb
from runplane.v1 import concurrency_pb2_grpc

pytestmark = pytest.mark.anyio

Stub = concurrency_pb2_grpc.ConcurrencyServiceStub


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def seconds(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(timedelta(seconds=value))
    return duration


@pytest.fixture
async def stub(server: RunplaneServer) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(server.address) as channel:
        yield concurrency_pb2_grpc.ConcurrencyServiceStub(channel)


async def create(stub: Stub, name: str, limit: int) -> pb.ConcurrencyLimit:
    response = await stub.CreateConcurrencyLimit(
        pb.CreateConcurrencyLimitRequest(name=name, limit=limit)
    )
    return response.concurrency_limit


async def acquire(stub: Stub, *names: str, **fields: object) -> pb.AcquireConcurrencySlotsResponse:
    fields.setdefault("holder_id", "task-1")
    return await stub.AcquireConcurrencySlots(
        pb.AcquireConcurrencySlotsRequest(names=names, **fields)  # type: ignore[arg-type]
    )


async def active(stub: Stub, name: str) -> int:
    response = await stub.GetConcurrencyLimit(pb.GetConcurrencyLimitRequest(name=name))
    return response.concurrency_limit.active_slots


async def expect_error(call: object, code: grpc.StatusCode, text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code
    assert text in (caught.value.details() or "")


async def test_create_is_an_upsert_by_name(stub: Stub) -> None:
    name = unique("tag:db")
    before = datetime.now(UTC)
    first = await stub.CreateConcurrencyLimit(pb.CreateConcurrencyLimitRequest(name=name, limit=2))
    again = await stub.CreateConcurrencyLimit(pb.CreateConcurrencyLimitRequest(name=name, limit=5))
    assert first.created
    assert not again.created
    assert again.concurrency_limit.id == first.concurrency_limit.id
    assert again.concurrency_limit.limit == 5
    assert again.concurrency_limit.create_time == first.concurrency_limit.create_time
    assert first.concurrency_limit.create_time.ToDatetime(tzinfo=UTC) >= before - timedelta(
        seconds=1
    )
    got = await stub.GetConcurrencyLimit(pb.GetConcurrencyLimitRequest(name=name))
    assert got.concurrency_limit.name == name
    assert got.concurrency_limit.limit == 5
    assert got.concurrency_limit.active_slots == 0


async def test_list_pages_by_name(stub: Stub) -> None:
    prefix = unique("list")
    names = [f"{prefix}-{letter}" for letter in "ecadb"]
    for limit, name in enumerate(names):
        await create(stub, name, limit)
    listed: list[pb.ConcurrencyLimit] = []
    token, pages = "", 0
    while True:
        page = await stub.ListConcurrencyLimits(
            pb.ListConcurrencyLimitsRequest(page_size=2, page_token=token)
        )
        assert len(page.concurrency_limits) <= 2
        listed.extend(page.concurrency_limits)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    all_names = [limit.name for limit in listed]
    assert all_names == sorted(all_names)
    assert len(set(all_names)) == len(all_names)
    mine = [limit for limit in listed if limit.name.startswith(prefix)]
    assert [limit.name for limit in mine] == sorted(names)
    assert {limit.name: limit.limit for limit in mine} == {n: i for i, n in enumerate(names)}
    assert pages >= 3


async def test_delete_removes_the_limit_and_its_slots(stub: Stub) -> None:
    name, other = unique("del"), unique("keep")
    await create(stub, name, 1)
    await create(stub, other, 1)
    lease = await acquire(stub, name, other)
    assert lease.granted
    await stub.DeleteConcurrencyLimit(pb.DeleteConcurrencyLimitRequest(name=name))
    await expect_error(
        stub.GetConcurrencyLimit(pb.GetConcurrencyLimitRequest(name=name)),
        grpc.StatusCode.NOT_FOUND,
        name,
    )
    await expect_error(
        stub.DeleteConcurrencyLimit(pb.DeleteConcurrencyLimitRequest(name=name)),
        grpc.StatusCode.NOT_FOUND,
        "concurrency limit",
    )
    # The lease keeps its slot of the other limit until it is released.
    assert await active(stub, other) == 1
    recreated = await create(stub, name, 1)
    assert recreated.active_slots == 0
    await stub.ReleaseConcurrencySlots(pb.ReleaseConcurrencySlotsRequest(lease_id=lease.lease_id))
    assert await active(stub, other) == 0


async def test_creates_racing_deletes_of_one_limit_never_fail(stub: Stub) -> None:
    name = unique("race")

    async def create_or_gone() -> grpc.StatusCode:
        try:
            await create(stub, name, 2)
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    async def delete_or_gone() -> grpc.StatusCode:
        try:
            await stub.DeleteConcurrencyLimit(pb.DeleteConcurrencyLimitRequest(name=name))
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    await create(stub, name, 2)
    codes = await asyncio.gather(
        *(call() for _ in range(100) for call in (create_or_gone, delete_or_gone))
    )
    # A create always succeeds (it recreates what a delete removed); a delete finds the limit
    # or says it is gone. Nothing is INTERNAL.
    assert set(codes[0::2]) == {grpc.StatusCode.OK}
    assert set(codes[1::2]) <= {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND}


async def test_acquire_up_to_the_limit_then_release_frees_a_slot(stub: Stub) -> None:
    name = unique("tag:api")
    await create(stub, name, 2)
    before = datetime.now(UTC)
    first = await acquire(stub, name, holder_id="a")
    second = await acquire(stub, name, holder_id="b", lease_duration=seconds(60))
    assert first.granted
    assert second.granted
    assert first.lease_id != second.lease_id
    first_expiry = first.lease_expire_time.ToDatetime(tzinfo=UTC)
    assert before + timedelta(seconds=29) < first_expiry < datetime.now(UTC) + timedelta(seconds=31)
    assert second.lease_expire_time.ToDatetime(tzinfo=UTC) > first_expiry + timedelta(seconds=25)
    assert await active(stub, name) == 2

    refused = await acquire(stub, name, holder_id="c")
    assert not refused.granted
    assert refused.lease_id == ""
    assert refused.HasField("retry_after")
    assert refused.retry_after.ToTimedelta() == timedelta(seconds=1)
    assert await active(stub, name) == 2

    release = pb.ReleaseConcurrencySlotsRequest(lease_id=first.lease_id)
    await stub.ReleaseConcurrencySlots(release)
    await stub.ReleaseConcurrencySlots(release)  # releasing twice is harmless
    await stub.ReleaseConcurrencySlots(
        pb.ReleaseConcurrencySlotsRequest(lease_id=str(uuid.uuid4()))
    )
    assert await active(stub, name) == 1
    assert (await acquire(stub, name, holder_id="c")).granted
    assert await active(stub, name) == 2


async def test_an_expired_lease_frees_its_slot(server_settings: ServerSettings) -> None:
    # The server's clock moves only when told: the lease holds through every call, however
    # slow, until the test moves the clock past its expiry.
    clock = ManualClock()
    async with serving(server_settings, clock) as (_, channel):
        stub = concurrency_pb2_grpc.ConcurrencyServiceStub(channel)
        name = unique("tag:short")
        await create(stub, name, 1)
        lease = await acquire(stub, name, lease_duration=seconds(5))
        assert lease.granted
        assert not (await acquire(stub, name)).granted
        clock.advance(4.9)
        assert await active(stub, name) == 1
        assert not (await acquire(stub, name)).granted
        clock.advance(0.2)  # past the lease's expiry
        assert await active(stub, name) == 0
        await expect_error(
            stub.RenewConcurrencyLease(pb.RenewConcurrencyLeaseRequest(lease_id=lease.lease_id)),
            grpc.StatusCode.NOT_FOUND,
            "concurrency lease",
        )
        again = await acquire(stub, name)
        assert again.granted
        assert again.lease_id != lease.lease_id
        assert await active(stub, name) == 1


async def test_renew_moves_the_expiry(stub: Stub) -> None:
    name = unique("tag:renew")
    await create(stub, name, 1)
    lease = await acquire(stub, name, lease_duration=seconds(5))
    renewed = await stub.RenewConcurrencyLease(
        pb.RenewConcurrencyLeaseRequest(lease_id=lease.lease_id, lease_duration=seconds(600))
    )
    expiry = renewed.lease_expire_time.ToDatetime(tzinfo=UTC)
    assert expiry > lease.lease_expire_time.ToDatetime(tzinfo=UTC) + timedelta(seconds=590)
    default = await stub.RenewConcurrencyLease(
        pb.RenewConcurrencyLeaseRequest(lease_id=lease.lease_id)
    )
    assert default.lease_expire_time.ToDatetime(tzinfo=UTC) < expiry - timedelta(seconds=500)
    assert await active(stub, name) == 1
    await expect_error(
        stub.RenewConcurrencyLease(pb.RenewConcurrencyLeaseRequest(lease_id=str(uuid.uuid4()))),
        grpc.StatusCode.NOT_FOUND,
        "concurrency lease",
    )
    await stub.ReleaseConcurrencySlots(pb.ReleaseConcurrencySlotsRequest(lease_id=lease.lease_id))
    await expect_error(
        stub.RenewConcurrencyLease(pb.RenewConcurrencyLeaseRequest(lease_id=lease.lease_id)),
        grpc.StatusCode.NOT_FOUND,
        "concurrency lease",
    )


async def test_a_repeated_request_id_returns_the_same_lease(stub: Stub) -> None:
    name = unique("tag:idem")
    await create(stub, name, 1)
    request_id = str(uuid.uuid4())
    first = await acquire(stub, name, request_id=request_id)
    again = await acquire(stub, name, request_id=request_id)
    assert first.granted
    assert again.granted
    assert again.lease_id == first.lease_id
    assert again.lease_expire_time == first.lease_expire_time
    assert await active(stub, name) == 1
    other = await acquire(stub, name, request_id=str(uuid.uuid4()))
    assert not other.granted


async def test_concurrent_acquirers_never_exceed_the_limit(stub: Stub) -> None:
    name = unique("tag:race")
    await create(stub, name, 3)
    answers = await asyncio.gather(*(acquire(stub, name, holder_id=f"t{i}") for i in range(12)))
    assert sum(answer.granted for answer in answers) == 3
    assert await active(stub, name) == 3
    request_id = str(uuid.uuid4())
    free = unique("tag:race-free")
    await create(stub, free, 10)
    repeats = await asyncio.gather(*(acquire(stub, free, request_id=request_id) for _ in range(6)))
    assert {answer.lease_id for answer in repeats} == {repeats[0].lease_id}
    assert await active(stub, free) == 1
    # Without any existing limit no row is locked: the request id alone keeps one lease.
    unlimited, request_id = unique("tag:none"), str(uuid.uuid4())
    repeats = await asyncio.gather(
        *(acquire(stub, unlimited, request_id=request_id) for _ in range(6))
    )
    assert {answer.lease_id for answer in repeats} == {repeats[0].lease_id}


async def test_acquire_is_all_or_none_across_limits(stub: Stub) -> None:
    narrow, wide = unique("tag:narrow"), unique("tag:wide")
    await create(stub, narrow, 1)
    await create(stub, wide, 2)
    holder = await acquire(stub, narrow)
    assert holder.granted
    both = await acquire(stub, narrow, wide)
    assert not both.granted
    assert await active(stub, wide) == 0
    await stub.ReleaseConcurrencySlots(pb.ReleaseConcurrencySlotsRequest(lease_id=holder.lease_id))
    both = await acquire(stub, wide, narrow, wide)  # a repeated name takes one slot
    assert both.granted
    assert await active(stub, narrow) == 1
    assert await active(stub, wide) == 1
    await stub.ReleaseConcurrencySlots(pb.ReleaseConcurrencySlotsRequest(lease_id=both.lease_id))
    assert await active(stub, narrow) == 0
    assert await active(stub, wide) == 0


async def test_a_zero_limit_is_never_granted(stub: Stub) -> None:
    zero, free = unique("tag:zero"), unique("tag:free")
    await create(stub, zero, 0)
    await create(stub, free, 5)
    refused = await acquire(stub, free, zero)
    assert not refused.granted
    assert not refused.HasField("retry_after")
    assert await active(stub, free) == 0


async def test_names_without_a_limit_are_ignored(stub: Stub) -> None:
    name = unique("tag:real")
    await create(stub, name, 1)
    partly = await acquire(stub, name, unique("tag:none"))
    assert partly.granted
    assert await active(stub, name) == 1
    nothing = await acquire(stub, unique("tag:none"), unique("tag:none"))
    assert nothing.granted
    assert nothing.lease_id
    renewed = await stub.RenewConcurrencyLease(
        pb.RenewConcurrencyLeaseRequest(lease_id=nothing.lease_id)
    )
    assert renewed.HasField("lease_expire_time")
    await stub.ReleaseConcurrencySlots(pb.ReleaseConcurrencySlotsRequest(lease_id=nothing.lease_id))


async def test_bad_input_is_refused(stub: Stub) -> None:
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    name = unique("tag:bad")
    await create(stub, name, 1)
    for request, field in [
        (pb.CreateConcurrencyLimitRequest(name="", limit=1), "name"),
        (pb.CreateConcurrencyLimitRequest(name="   ", limit=1), "name"),
        (pb.CreateConcurrencyLimitRequest(name="x" * 257, limit=1), "name"),
        (pb.CreateConcurrencyLimitRequest(name=name, limit=-1), "limit"),
    ]:
        await expect_error(stub.CreateConcurrencyLimit(request), invalid, field)
    await expect_error(stub.GetConcurrencyLimit(pb.GetConcurrencyLimitRequest()), invalid, "name")
    await expect_error(
        stub.GetConcurrencyLimit(pb.GetConcurrencyLimitRequest(name=unique("missing"))),
        grpc.StatusCode.NOT_FOUND,
        "concurrency limit",
    )
    await expect_error(
        stub.DeleteConcurrencyLimit(pb.DeleteConcurrencyLimitRequest()), invalid, "name"
    )
    for listing, field in [
        (pb.ListConcurrencyLimitsRequest(page_size=-1), "page_size"),
        (pb.ListConcurrencyLimitsRequest(page_token="not a token"), "page_token"),
    ]:
        await expect_error(stub.ListConcurrencyLimits(listing), invalid, field)
    for fields, field in [
        ({"names": []}, "names"),
        ({"names": [name, ""]}, "names[1]"),
        ({"names": [name] * 101}, "names"),
        ({"names": [name], "holder_id": ""}, "holder_id"),
        ({"names": [name], "lease_duration": seconds(0)}, "lease_duration"),
        ({"names": [name], "lease_duration": seconds(-1)}, "lease_duration"),
        ({"names": [name], "lease_duration": seconds(86_401)}, "lease_duration"),
        (
            {"names": [name], "lease_duration": duration_pb2.Duration(seconds=2**62)},
            "lease_duration",
        ),
        ({"names": [name], "request_id": "again"}, "request_id"),
    ]:
        fields.setdefault("holder_id", "task-1")
        request = pb.AcquireConcurrencySlotsRequest(**fields)  # type: ignore[arg-type]
        await expect_error(stub.AcquireConcurrencySlots(request), invalid, field)
    assert await active(stub, name) == 0
    lease = await acquire(stub, name)
    for renew, field in [
        (pb.RenewConcurrencyLeaseRequest(), "lease_id"),
        (pb.RenewConcurrencyLeaseRequest(lease_id="nope"), "lease_id"),
        (
            pb.RenewConcurrencyLeaseRequest(lease_id=lease.lease_id, lease_duration=seconds(0)),
            "lease_duration",
        ),
    ]:
        await expect_error(stub.RenewConcurrencyLease(renew), invalid, field)
    for release, field in [
        (pb.ReleaseConcurrencySlotsRequest(), "lease_id"),
        (pb.ReleaseConcurrencySlotsRequest(lease_id="nope"), "lease_id"),
    ]:
        await expect_error(stub.ReleaseConcurrencySlots(release), invalid, field)
    assert await active(stub, name) == 1
