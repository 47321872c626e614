"""The all-or-none decision over concurrency limits."""

from __future__ import annotations

from runplane.server.orchestration.slots import LimitUsage, SlotAnswer, decide_slots


def test_granted_only_when_every_limit_has_a_free_slot() -> None:
    assert decide_slots([LimitUsage(2, 1), LimitUsage(1, 0)]) is SlotAnswer.GRANTED
    assert decide_slots([LimitUsage(2, 1), LimitUsage(1, 1)]) is SlotAnswer.FULL
    assert decide_slots([]) is SlotAnswer.GRANTED


def test_a_zero_limit_is_never_granted_even_beside_a_full_one() -> None:
    assert decide_slots([LimitUsage(1, 1), LimitUsage(0, 0)]) is SlotAnswer.NEVER
