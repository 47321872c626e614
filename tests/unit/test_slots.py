"""The all-or-none decision over concurrency limits, and how decaying limits free slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runplane.server.orchestration.slots import (
    LimitUsage,
    SlotAnswer,
    decay_free_time_after,
    decaying_slots,
    decide_slots,
    whole_slots,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def answer(usages: list[LimitUsage], occupy: int = 1) -> SlotAnswer:
    return decide_slots(usages, occupy).answer


def test_granted_only_when_every_limit_has_a_free_slot() -> None:
    assert answer([LimitUsage(2, 1), LimitUsage(1, 0)]) is SlotAnswer.GRANTED
    assert answer([LimitUsage(2, 1), LimitUsage(1, 1)]) is SlotAnswer.FULL
    assert answer([]) is SlotAnswer.GRANTED


def test_a_zero_limit_is_never_granted_even_beside_a_full_one() -> None:
    assert answer([LimitUsage(1, 1), LimitUsage(0, 0)]) is SlotAnswer.NEVER


def test_occupy_needs_that_many_free_slots_of_every_limit() -> None:
    assert answer([LimitUsage(5, 2), LimitUsage(3, 0)], occupy=3) is SlotAnswer.GRANTED
    assert answer([LimitUsage(5, 3), LimitUsage(3, 0)], occupy=3) is SlotAnswer.FULL
    assert answer([LimitUsage(5, 0), LimitUsage(2, 0)], occupy=3) is SlotAnswer.TOO_MANY


def test_a_full_decaying_limit_says_when_enough_has_decayed() -> None:
    usage = LimitUsage(4, 0, decaying=4.0, decay_per_second=2.0)
    decision = decide_slots([usage], occupy=3)
    assert decision.answer is SlotAnswer.FULL
    assert decision.retry_after == pytest.approx(1.5)
    # Leased slots do not decay: no time can be promised.
    assert decide_slots([LimitUsage(4, 4, 0.0, 2.0)]).retry_after is None


def test_decaying_slots_follow_the_free_time() -> None:
    free_time = decay_free_time_after(None, 2.0, 4, NOW)
    assert free_time == NOW + timedelta(seconds=2)
    assert decaying_slots(free_time, 2.0, NOW + timedelta(seconds=0.25)) == pytest.approx(3.5)
    assert decaying_slots(free_time, 2.0, NOW + timedelta(seconds=3)) == 0.0
    later = decay_free_time_after(free_time, 2.0, 1, NOW + timedelta(seconds=1))
    assert later == NOW + timedelta(seconds=2.5)
    # A slot partly decayed still counts as held.
    assert whole_slots(LimitUsage(4, 1, decaying=0.5, decay_per_second=1.0)) == 2
