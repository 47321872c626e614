"""Which work pools have runners on the other server processes of one database.

Subscriptions live in the memory of the server a runner is connected to. So that the late
marker of any server can tell "no runner is subscribed" from "the runners are busy", each
server announces its subscribed pools to the others (NOTIFY on PostgreSQL) on every sweep
and whenever its subscriptions change; an announcement not renewed in time is forgotten.

An announcement also names the runtimes each pool's runners run, so that a run whose runtime
no runner runs can say so, and which of those pools have a concurrency limit (on the pool or a
queue): a server tells the others that a run ended only while someone has such a pool, so
that a plane without limits pays no notification per run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from runplane.server.cluster_notices import PoolsAnnounced, encode, fits

# What a pool announced without runtimes runs: announcements older than runtimes came from
# servers whose runners all ran Python.
_PYTHON_ONLY = frozenset({"python"})

Runtimes = dict[str, frozenset[str]]


@dataclass(frozen=True, slots=True)
class _Heard:
    number: int
    pools: frozenset[str]
    limited: frozenset[str]
    runtimes: Runtimes
    when: float

    def runs(self, pool: str, runtime: str | None) -> bool:
        if pool not in self.pools:
            return False
        return runtime is None or runtime in self.runtimes.get(pool, _PYTHON_ONLY)


class Presence:
    def __init__(self, token: str, ttl: float) -> None:
        self._token = token
        self._ttl = ttl
        self._announced = 0
        self._heard: dict[str, _Heard] = {}

    def announcements(
        self,
        pools: Iterable[str],
        limited: Iterable[str] = (),
        runtimes: Mapping[str, Iterable[str]] | None = None,
    ) -> list[str]:
        """Payloads naming ``pools``, which of them are ``limited``, and the runtimes their
        runners run (:class:`PoolsAnnounced`), as many as size needs, all with one number; an
        announcement replaces the one before it, so one with no pools withdraws them."""
        self._announced += 1
        with_limits = frozenset(limited)
        by_pool = {pool: sorted(names) for pool, names in (runtimes or {}).items()}

        def payload(chunk: list[str]) -> str:
            announced = PoolsAnnounced(
                sender=self._token,
                n=self._announced,
                pools=chunk,
                limited=[pool for pool in chunk if pool in with_limits],
                runtimes={pool: by_pool[pool] for pool in chunk if pool in by_pool},
            )
            return encode(announced)

        payloads: list[str] = []
        chunk: list[str] = []
        for pool in sorted(pools):
            if chunk and not fits(payload([*chunk, pool])):
                payloads.append(payload(chunk))
                chunk = []
            chunk.append(pool)
        payloads.append(payload(chunk))
        return payloads

    def heard(self, announced: PoolsAnnounced) -> None:
        """An announcement of another server."""
        pools, limited = frozenset(announced.pools), frozenset(announced.limited)
        runtimes = {pool: frozenset(names) for pool, names in announced.runtimes.items()}
        previous = self._heard.get(announced.sender)
        if previous is not None and announced.n == previous.number:  # a part of the same one
            pools |= previous.pools
            limited |= previous.limited
            runtimes = {**previous.runtimes, **runtimes}
        self._heard[announced.sender] = _Heard(
            announced.n, pools, limited, runtimes, time.monotonic()
        )

    def elsewhere(self, pool: str, runtime: str | None = None) -> bool:
        """Whether another server announced a runner of ``pool`` (running ``runtime``, unless
        None) recently enough."""
        return any(heard.runs(pool, runtime) for heard in self._current())

    def limited_elsewhere(self) -> bool:
        """Whether another server announced a pool with a concurrency limit recently enough."""
        return any(heard.limited for heard in self._current())

    def _current(self) -> list[_Heard]:
        """The announcements not yet expired."""
        horizon = time.monotonic() - self._ttl
        for token, heard in list(self._heard.items()):
            if heard.when < horizon:
                del self._heard[token]
        return list(self._heard.values())
