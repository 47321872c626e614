"""ConcurrencyService with several slots per request and with decaying limits (rate limits),
through a real server whose clock moves only when the test says so."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from delivery_support import ManualClock, serving

from runplane.server import ServerSettings
from runplane.v1 import concurrency_pb2 as pb
from runplane.v1 import concurrency_pb2_grpc

pytestmark = pytest.mark.anyio

Stub = concurrency_pb2_grpc.ConcurrencyServiceStub


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def stub(server_settings: ServerSettings, clock: ManualClock) -> AsyncIterator[Stub]:
    async with serving(server_settings, clock) as (_, channel):
        yield concurrency_pb2_grpc.ConcurrencyServiceStub(channel)


async def create(stub: Stub, name: str, limit: int, decay: float = 0.0) -> pb.ConcurrencyLimit:
    request = pb.CreateConcurrencyLimitRequest(name=name, limit=limit, slot_decay_per_second=decay)
    return (await stub.CreateConcurrencyLimit(request)).concurrency_limit


async def acquire(stub: Stub, *names: str, occupy: int = 0) -> pb.AcquireConcurrencySlotsResponse:
    request = pb.AcquireConcurrencySlotsRequest(names=names, holder_id="holder", occupy=occupy)
    return await stub.AcquireConcurrencySlots(request)


async def active(stub: Stub, name: str) -> int:
    response = await stub.GetConcurrencyLimit(pb.GetConcurrencyLimitRequest(name=name))
    return response.concurrency_limit.active_slots


async def test_occupy_takes_that_many_slots_and_release_gives_them_back(stub: Stub) -> None:
    name = unique("db")
    await create(stub, name, 5)
    first = await acquire(stub, name, occupy=3)
    assert first.granted
    assert await active(stub, name) == 3
    assert not (await acquire(stub, name, occupy=3)).granted  # 3 + 3 > 5
    assert (await acquire(stub, name, occupy=2)).granted
    assert await active(stub, name) == 5
    await stub.ReleaseConcurrencySlots(pb.ReleaseConcurrencySlotsRequest(lease_id=first.lease_id))
    assert await active(stub, name) == 2


async def test_occupy_more_than_the_limit_is_invalid_and_names_the_field(stub: Stub) -> None:
    name = unique("db")
    await create(stub, name, 2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await acquire(stub, name, occupy=3)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details() or ""
    assert "occupy" in details
    assert name in details
    assert await active(stub, name) == 0


@pytest.mark.parametrize("occupy", [-1, 1_000_001])
async def test_occupy_out_of_range_is_invalid(stub: Stub, occupy: int) -> None:
    name = unique("db")
    await create(stub, name, 2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await acquire(stub, name, occupy=occupy)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "occupy" in (caught.value.details() or "")


async def test_occupy_is_all_or_none_across_names(stub: Stub) -> None:
    roomy, tight = unique("roomy"), unique("tight")
    await create(stub, roomy, 10)
    await create(stub, tight, 4)
    assert (await acquire(stub, tight, occupy=2)).granted
    refused = await acquire(stub, roomy, tight, occupy=3)
    assert not refused.granted
    assert refused.HasField("retry_after")
    assert (await active(stub, roomy), await active(stub, tight)) == (0, 2)
    assert (await acquire(stub, roomy, tight, occupy=2)).granted
    assert (await active(stub, roomy), await active(stub, tight)) == (2, 4)


@pytest.mark.parametrize("decay", [-1.0, float("nan"), float("inf"), 1e-300, 2e9])
async def test_a_bad_decay_rate_is_invalid(stub: Stub, decay: float) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create(stub, unique("rate"), 2_000_000_000, decay)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "slot_decay_per_second" in (caught.value.details() or "")


async def test_decay_frees_slots_at_the_rate_not_on_release(stub: Stub, clock: ManualClock) -> None:
    name = unique("rate")
    created = await create(stub, name, 4, decay=2.0)  # two slots a second
    assert created.slot_decay_per_second == 2.0
    granted = await acquire(stub, name, occupy=4)
    assert granted.granted
    await stub.ReleaseConcurrencySlots(pb.ReleaseConcurrencySlotsRequest(lease_id=granted.lease_id))
    assert await active(stub, name) == 4  # released, but the slots decay instead
    refused = await acquire(stub, name, occupy=1)
    assert not refused.granted
    assert refused.retry_after.ToTimedelta().total_seconds() == pytest.approx(0.5)
    clock.advance(0.5)
    assert await active(stub, name) == 3
    clock.advance(0.5)
    assert await active(stub, name) == 2
    assert not (await acquire(stub, name, occupy=3)).granted
    assert (await acquire(stub, name, occupy=2)).granted
    assert await active(stub, name) == 4
    clock.advance(2.0)
    assert await active(stub, name) == 0


async def test_a_decaying_and_a_plain_limit_together(stub: Stub, clock: ManualClock) -> None:
    rate, plain = unique("rate"), unique("plain")
    await create(stub, rate, 1, decay=1.0)
    await create(stub, plain, 5)
    granted = await acquire(stub, rate, plain)
    assert granted.granted
    # The plain limit's slot is held by the lease; the decaying one's by time.
    await stub.ReleaseConcurrencySlots(pb.ReleaseConcurrencySlotsRequest(lease_id=granted.lease_id))
    assert (await active(stub, rate), await active(stub, plain)) == (1, 0)
    assert not (await acquire(stub, rate, plain)).granted
    assert await active(stub, plain) == 0  # all or none
    clock.advance(1.0)
    assert (await acquire(stub, rate, plain)).granted


async def test_changing_the_rate_keeps_the_slots_held(stub: Stub, clock: ManualClock) -> None:
    name = unique("rate")
    await create(stub, name, 4, decay=1.0)
    assert (await acquire(stub, name, occupy=4)).granted
    clock.advance(1.0)
    changed = await create(stub, name, 4, decay=0.5)
    assert changed.active_slots == 3
    clock.advance(2.0)  # one slot at the new rate
    assert await active(stub, name) == 2
    plain = await create(stub, name, 4, decay=0.0)
    assert plain.active_slots == 0  # without decay, only leases hold slots
