"""Concurrency limits and lease requests between protobuf and the repository."""

from __future__ import annotations

import math

from google.protobuf import duration_pb2

from runplane.server.api import convert
from runplane.server.api.errors import invalid_argument
from runplane.server.api.validation import require_name
from runplane.server.db.concurrency import ConcurrencyLimitRecord
from runplane.v1 import concurrency_pb2

DEFAULT_LEASE_SECONDS = 30.0
MAX_LEASE_SECONDS = 24 * 3600.0
MAX_NAMES = 100
MAX_HOLDER_LENGTH = 256
MAX_OCCUPY = 1_000_000
MAX_SLOT_DECAY_PER_SECOND = 1e9
# A full decaying limit must come free within this time: the time when its slots will have
# decayed must stay a date.
MAX_DECAY_SECONDS = 100 * 365 * 24 * 3600.0


def concurrency_limit(record: ConcurrencyLimitRecord) -> concurrency_pb2.ConcurrencyLimit:
    return concurrency_pb2.ConcurrencyLimit(
        id=str(record.id),
        name=record.name,
        limit=record.limit,
        active_slots=record.active_slots,
        create_time=convert.timestamp(record.create_time),
        slot_decay_per_second=record.slot_decay_per_second,
    )


def lease_seconds(field: str, message: duration_pb2.Duration, is_set: bool) -> float:
    """A lease duration: 30 s when unset, else more than 0 and at most one day."""
    if not is_set:
        return DEFAULT_LEASE_SECONDS
    # Computed from the fields, not ToTimedelta(), which overflows on huge values.
    seconds = message.seconds + message.nanos / 1e9
    if not 0 < seconds <= MAX_LEASE_SECONDS:
        raise invalid_argument(field, f"must be more than 0 s and at most {MAX_LEASE_SECONDS:g} s")
    return seconds


def limit_names(field: str, names: list[str]) -> list[str]:
    """The distinct names, in the order given."""
    if not names:
        raise invalid_argument(field, "at least one name is required")
    if len(names) > MAX_NAMES:
        raise invalid_argument(field, f"at most {MAX_NAMES} names are allowed")
    for index, name in enumerate(names):
        require_name(f"{field}[{index}]", name)
    return list(dict.fromkeys(names))


def limit_value(field: str, value: int) -> int:
    if value < 0:
        raise invalid_argument(field, "must not be negative")
    return value


def occupy_value(field: str, value: int) -> int:
    """How many slots of each limit a request takes: 0 means 1."""
    if value < 0:
        raise invalid_argument(field, "must not be negative")
    if value > MAX_OCCUPY:
        raise invalid_argument(field, f"must be at most {MAX_OCCUPY:,}")
    return value or 1


def slot_decay_value(field: str, value: float, limit: int) -> float:
    """A decay rate: 0 (none), or fast enough that a full ``limit`` decays within 100 years."""
    if not math.isfinite(value) or value < 0:
        raise invalid_argument(field, "must be a finite number, zero or more")
    if value > MAX_SLOT_DECAY_PER_SECOND:
        raise invalid_argument(field, f"must be at most {MAX_SLOT_DECAY_PER_SECOND:g}")
    if value > 0 and limit / value > MAX_DECAY_SECONDS:
        raise invalid_argument(
            field, f"is too slow: a limit of {limit} would take more than 100 years to decay"
        )
    return value
