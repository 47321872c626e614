"""Whether a request for concurrency slots is granted: one slot of each limit, all or none."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class SlotAnswer(enum.Enum):
    GRANTED = "granted"
    FULL = "full"
    """Some limit has no free slot now; trying again later may succeed."""
    NEVER = "never"
    """Some limit is 0: no attempt can ever be granted."""


@dataclass(frozen=True, slots=True)
class LimitUsage:
    limit: int
    active: int
    """Slots held under unexpired leases."""


def decide_slots(usages: Iterable[LimitUsage]) -> SlotAnswer:
    """GRANTED when every limit has a free slot; limits that do not exist are not passed."""
    answer = SlotAnswer.GRANTED
    for usage in usages:
        if usage.limit <= 0:
            return SlotAnswer.NEVER
        if usage.active >= usage.limit:
            answer = SlotAnswer.FULL
    return answer
