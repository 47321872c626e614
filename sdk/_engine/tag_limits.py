"""Which task tags have a concurrency limit: this process's copy of the ``tag:`` limit names.

A tagged task looks its tags up here before it runs, so a task whose tags have no limit
costs no round trip. The copy is listed again when it is older than ``REFRESH_SECONDS``,
and for the first tagged task of each flow run, so a limit created while a flow runs
takes effect within that period.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterable

from runplane._client.sync_client import SyncRunplaneClient

PREFIX = "tag:"
REFRESH_SECONDS = 5.0
"""Longest time a listing is trusted; a limit created meanwhile is seen after it."""
_MAX_REMEMBERED_FLOW_RUNS = 4096


class TagLimits:
    """The ``tag:`` limits as last listed, with their values; safe to use from many threads."""

    def __init__(self, client: SyncRunplaneClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._limits: dict[str, int] = {}
        self._listed_at = -math.inf
        self._flow_runs: set[uuid.UUID] = set()

    def names_for(self, tags: Iterable[str], flow_run_id: uuid.UUID) -> list[str]:
        """The names of the limits on these tags, e.g. ``["tag:db"]``; often empty."""
        if self._stale(flow_run_id):
            self._refresh(flow_run_id)
        limits = self._limits
        return [name for name in (PREFIX + tag for tag in tags) if name in limits]

    def value(self, name: str) -> int | None:
        """The limit's value when it was last listed; None when it was not listed."""
        return self._limits.get(name)

    def _stale(self, flow_run_id: uuid.UUID) -> bool:
        too_old = time.monotonic() - self._listed_at > REFRESH_SECONDS
        return too_old or flow_run_id not in self._flow_runs

    def _refresh(self, flow_run_id: uuid.UUID) -> None:
        with self._lock:
            # Another thread may have listed while this one waited for the lock.
            if not self._stale(flow_run_id):
                return
            started = time.monotonic()
            self._limits = self._list()
            self._listed_at = started
            if len(self._flow_runs) >= _MAX_REMEMBERED_FLOW_RUNS:
                self._flow_runs.clear()  # at worst, one more listing per flow run
            self._flow_runs.add(flow_run_id)

    def _list(self) -> dict[str, int]:
        limits = self._client.all_concurrency_limits()
        return {item.name: item.limit for item in limits if item.name.startswith(PREFIX)}
