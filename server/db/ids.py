"""Ids of new states: UUIDs that grow with time (RFC 9562 version 7).

Every state a run takes is a row keyed by its id. A random id puts each new key on a random
page of that index, so that the pages written per state grow with the table until they no
longer fit in memory; an id that leads with the time puts it on the last pages, which stay
in memory however large the table. The 74 bits after the millisecond are random, so that ids
made in the same millisecond, by one server or several, do not collide.

Run ids stay random: the CLI takes a run by a prefix of its id, six characters or more, and
ids that lead with the time share their first twelve with every run made about then.
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
