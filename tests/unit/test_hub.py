"""The event hub's bookkeeping of writes that nobody watched, and a watch's state order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from runplane.server.api.watch_order import StateOrder
from runplane.server.db.run_records import StateRecord
from runplane.server.hub import Hub

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def state(type_: int, at: datetime) -> StateRecord:
    return StateRecord(
        id=uuid.uuid4(), type=type_, name="", timestamp=at, message="", result=None, details=None
    )


async def test_a_write_with_a_subscriber_is_observed_and_never_waited_for() -> None:
    hub: Hub[int] = Hub()
    subscription = hub.subscribe()
    with hub.writing() as observed:
        assert observed
        with anyio.fail_after(1):
            await hub.unobserved_writes_done()
    subscription.close()


async def test_a_new_subscriber_waits_for_the_writes_that_began_unobserved() -> None:
    hub: Hub[int] = Hub()
    order: list[str] = []
    commit = anyio.Event()

    async def write() -> None:
        with hub.writing() as observed:
            assert not observed
            await commit.wait()
            order.append("write committed")

    async def subscribe() -> None:
        subscription = hub.subscribe()
        await hub.unobserved_writes_done()
        order.append("subscriber reads")
        subscription.close()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(write)
            await anyio.wait_all_tasks_blocked()
            group.start_soon(subscribe)
            await anyio.wait_all_tasks_blocked()
            assert order == []
            commit.set()
    assert order == ["write committed", "subscriber reads"]


def test_older_and_repeated_states_of_a_run_are_not_sent_again() -> None:
    order = StateOrder()
    run = uuid.uuid4()
    pending, running = state(2, T0), state(3, T0 + timedelta(seconds=1))
    assert order.admit(run, running)
    assert not order.admit(run, running)  # the same state twice
    assert not order.admit(run, pending)  # announced late, after a newer one
    completed = state(4, T0 + timedelta(seconds=2))
    assert order.admit(run, completed)
    # Another run is ordered on its own.
    assert order.admit(uuid.uuid4(), pending)


def test_states_with_the_same_timestamp_are_all_sent() -> None:
    """An injected clock may stamp several changes of one run with one time."""
    order = StateOrder()
    run = uuid.uuid4()
    assert order.admit(run, state(2, T0))
    assert order.admit(run, state(3, T0))


def test_the_oldest_runs_are_forgotten_beyond_the_capacity() -> None:
    order = StateOrder(capacity=2)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    old = state(2, T0)
    for run in (first, second, third):
        assert order.admit(run, state(3, T0 + timedelta(seconds=1)))
    assert order.admit(first, old)  # forgotten, so taken as new
    assert not order.admit(third, old)


async def test_published_events_are_relayed_and_local_ones_are_not() -> None:
    hub: Hub[int] = Hub()
    relayed: list[int] = []
    hub.relay_to(relayed.append)
    with hub.writing() as observed:
        assert observed  # another server may be watching
    subscription = hub.subscribe()
    hub.publish(1)
    hub.publish_local(2)
    hub.close()
    assert [event async for event in subscription] == [1, 2]
    assert relayed == [1]


async def test_caught_up_runs_the_catch_up_steps() -> None:
    hub: Hub[int] = Hub()
    steps: list[str] = []

    async def step() -> None:
        steps.append("caught up")

    hub.catch_up_with(step)
    hub.subscribe()
    await hub.caught_up()
    assert steps == ["caught up"]


async def test_a_write_only_relays_of_ids_hear_builds_no_event_but_is_waited_for() -> None:
    hub: Hub[int] = Hub()
    relayed: list[int] = []
    relayed_ids: list[uuid.UUID] = []
    hub.relay_to(relayed.append)
    hub.relay_ids_to(relayed_ids.extend)
    written = uuid.uuid4()
    order: list[str] = []

    async def subscribe() -> None:
        await hub.unobserved_writes_done()
        order.append("subscriber reads")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            with hub.writing() as audience:
                assert audience
                assert audience.ids
                assert not audience.events
                subscription = hub.subscribe()
                group.start_soon(subscribe)
                await anyio.wait_all_tasks_blocked()
                order.append("write committed")
            hub.relay_written([written])
    assert order == ["write committed", "subscriber reads"]
    with hub.writing() as audience:
        assert audience.events  # with a subscriber here, whole events are built
    hub.publish(1)
    subscription.close()
    assert relayed == [1]
    assert relayed_ids == [written]
