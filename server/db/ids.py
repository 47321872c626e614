"""Ids of new runs and states: UUIDs that grow with time (RFC 9562 version 7).

A run's row is indexed by its id in several B-trees (its own key, its states', its tags').
A random id puts each new entry on a random page of each, so that the pages written per
insert grow with the table until they no longer fit in memory; an id that leads with the
time puts it on the last pages, which stay in memory however large the table. The 74 bits
after the millisecond are random, so that ids made in the same millisecond, by one server or
several, do not collide.
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62


def time_ordered_uuid() -> uuid.UUID:
    """A new version 7 UUID: the Unix time in milliseconds, then random bits."""
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10))  # 80 bits, of which 74 are used
    rand_a = random >> 68  # 12 bits
    rand_b = random & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | _VERSION | rand_a << 64 | _VARIANT | rand_b
    return uuid.UUID(int=value)
