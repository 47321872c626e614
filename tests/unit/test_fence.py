"""When a runner whose heartbeats fail kills its runs."""

from __future__ import annotations

from uuid import uuid4

from runplane.runner._fence import Fence


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_run_is_fenced_while_the_servers_timeout_is_unknown() -> None:
    clock = Clock()
    fence = Fence(clock)
    fence.received(uuid4())
    clock.now += 1000
    assert fence.overdue() == []


def test_a_run_is_fenced_two_thirds_of_the_timeout_after_the_last_acknowledged_send() -> None:
    clock = Clock()
    fence = Fence(clock)
    fence.heartbeat_timeout = 90.0
    run = uuid4()
    fence.received(run)
    clock.now += 10
    sent = clock.now
    clock.now += 25  # a slow answer: the server may have recorded it any time after sending
    fence.acknowledged([run], sent)
    assert fence.deadline(run) == sent + 60.0
    clock.now = sent + 59.9
    assert fence.overdue() == []
    clock.now = sent + 60.0
    assert fence.overdue() == [run]


def test_an_acknowledgement_never_moves_a_deadline_back() -> None:
    clock = Clock()
    fence = Fence(clock)
    fence.heartbeat_timeout = 6.0
    run = uuid4()
    fence.received(run)
    fence.acknowledged([run], clock.now - 5)  # sent before the run was assigned
    assert fence.deadline(run) == clock.now + 4.0
    fence.forget(run)
    assert fence.deadline(run) is None
    assert fence.next_deadline() is None
