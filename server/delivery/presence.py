"""Which work pools have runners on the other server processes of one database.

Subscriptions live in the memory of the server a runner is connected to. So that the late
marker of any server can tell "no runner is subscribed" from "the runners are busy", each
server announces its subscribed pools to the others (NOTIFY on PostgreSQL) on every sweep
and whenever its subscriptions change; an announcement not renewed in time is forgotten.

An announcement also names which of those pools have a concurrency limit (on the pool or a
queue): a server tells the others that a run ended only while someone has such a pool, so
that a plane without limits pays no notification per run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

# A NOTIFY payload must stay under 8000 bytes.
_MAX_PAYLOAD = 7000


class Presence:
    def __init__(self, token: str, ttl: float) -> None:
        self._token = token
        self._ttl = ttl
        self._announced = 0
        # token -> (announcement number, pools, limited pools, when heard)
        self._heard: dict[str, tuple[int, frozenset[str], frozenset[str], float]] = {}

    def announcements(self, pools: Iterable[str], limited: Iterable[str] = ()) -> list[str]:
        """Payloads naming ``pools``, and which of them are ``limited``:
        ``p <token> {"n": <number>, "pools": [...], "limited": [...]}``, as many as size
        needs, all with one number; an announcement replaces the one before it, so one with no
        pools withdraws them."""
        self._announced += 1
        prefix = f"p {self._token} "
        with_limits = frozenset(limited)

        def payload(chunk: list[str]) -> str:
            chunk_limited = [pool for pool in chunk if pool in with_limits]
            body = {"n": self._announced, "pools": chunk, "limited": chunk_limited}
            return prefix + json.dumps(body)

        payloads: list[str] = []
        chunk: list[str] = []
        for pool in sorted(pools):
            if chunk and len(payload([*chunk, pool])) > _MAX_PAYLOAD:
                payloads.append(payload(chunk))
                chunk = []
            chunk.append(pool)
        payloads.append(payload(chunk))
        return payloads

    def heard(self, token: str, body: str) -> None:
        """An announcement of another server; a malformed one is ignored."""
        try:
            message = json.loads(body)
            number, pools = int(message["n"]), frozenset(str(p) for p in message["pools"])
            limited = frozenset(str(p) for p in message.get("limited", ()))
        except (ValueError, TypeError, KeyError, AttributeError):
            return
        previous, known, known_limited, _ = self._heard.get(
            token, (0, frozenset(), frozenset(), 0.0)
        )
        if number == previous:  # another part of the same announcement
            pools |= known
            limited |= known_limited
        self._heard[token] = (number, pools, limited, time.monotonic())

    def elsewhere(self, pool: str) -> bool:
        """Whether another server announced a runner of ``pool`` recently enough."""
        return any(pool in pools for pools, _ in self._current())

    def limited_elsewhere(self) -> bool:
        """Whether another server announced a pool with a concurrency limit recently enough."""
        return any(limited for _, limited in self._current())

    def _current(self) -> list[tuple[frozenset[str], frozenset[str]]]:
        """The pools and limited pools of the announcements not yet expired."""
        horizon = time.monotonic() - self._ttl
        for token, (*_, seen) in list(self._heard.items()):
            if seen < horizon:
                del self._heard[token]
        return [(pools, limited) for _, pools, limited, _ in self._heard.values()]
