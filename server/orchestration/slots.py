"""Whether a request for concurrency slots is granted: ``occupy`` slots of each limit, all or
none, and how slots of a decaying limit (a rate limit) come free over time."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

# Slots are compared with this much slack: a decaying limit's held slots are computed from a
# time stored to the microsecond, so a slot that has just decayed may be a hair above zero.
SLOT_TOLERANCE = 1e-3


class SlotAnswer(enum.Enum):
    GRANTED = "granted"
    FULL = "full"
    """Some limit has too few free slots now; trying again later may succeed."""
    NEVER = "never"
    """Some limit is 0: no attempt can ever be granted."""
    TOO_MANY = "too_many"
    """More slots were asked of some limit than it has: no attempt can ever be granted."""


@dataclass(frozen=True, slots=True)
class LimitUsage:
    limit: int
    active: int
    """Slots held under unexpired leases."""
    decaying: float = 0.0
    """Slots taken of a decaying limit that have not decayed yet."""
    decay_per_second: float = 0.0

    @property
    def held(self) -> float:
        return self.active + self.decaying


@dataclass(frozen=True, slots=True)
class SlotDecision:
    answer: SlotAnswer
    retry_after: float | None = None
    """With FULL: seconds until the decaying limits alone would let the request in; None when
    a limit is full of leased slots, which come free only when released or expired."""


def decaying_slots(free_time: datetime | None, decay_per_second: float, now: datetime) -> float:
    """The slots a decaying limit still holds: all of them decay by ``free_time``."""
    if decay_per_second <= 0 or free_time is None or free_time <= now:
        return 0.0
    return (free_time - now).total_seconds() * decay_per_second


def whole_slots(usage: LimitUsage) -> int:
    """The slots held, as a count: a slot partly decayed is still held."""
    return usage.active + max(0, math.ceil(usage.decaying - SLOT_TOLERANCE))


def decay_free_time_after(
    free_time: datetime | None, decay_per_second: float, occupy: int, now: datetime
) -> datetime:
    """The new time when every slot has decayed, once ``occupy`` more are taken now."""
    start = free_time if free_time is not None and free_time > now else now
    return start + timedelta(seconds=occupy / decay_per_second)


def decide_slots(usages: Iterable[LimitUsage], occupy: int = 1) -> SlotDecision:
    """GRANTED when every limit has ``occupy`` free slots; limits that do not exist are not
    passed."""
    listed = list(usages)
    if any(usage.limit <= 0 for usage in listed):
        return SlotDecision(SlotAnswer.NEVER)
    if any(occupy > usage.limit for usage in listed):
        return SlotDecision(SlotAnswer.TOO_MANY)
    full = [u for u in listed if u.held + occupy > u.limit + SLOT_TOLERANCE]
    if not full:
        return SlotDecision(SlotAnswer.GRANTED)
    waits: list[float] = []
    for usage in full:
        room_without_decay = usage.limit - usage.active - occupy
        if usage.decay_per_second <= 0 or room_without_decay < 0:
            return SlotDecision(SlotAnswer.FULL)
        waits.append((usage.decaying - room_without_decay) / usage.decay_per_second)
    return SlotDecision(SlotAnswer.FULL, max(waits))
