"""The blocking client the engine uses, one per process and API address, and what the
engine keeps about that API.

Opening a client costs a thread and a channel, so runs share it; it is replaced when the
environment points at another API, and closed at interpreter exit. What the engine learns
from one API (flow ids, cached results, its log shipper, its tag slots) lives on that
API's client, so it goes away with the client and is never found by a later one.
"""

from __future__ import annotations

import atexit
import os
import threading
import uuid
from typing import TYPE_CHECKING

from runplane._client.settings import Settings
from runplane._client.sync_client import SyncRunplaneClient
from runplane._engine.results import LocalCache

if TYPE_CHECKING:
    from runplane._engine.task_slots import TagSlots
    from runplane._runtime.run_logs import LogShipper


class EngineClient(SyncRunplaneClient):
    """A blocking client with the engine's knowledge of its API, dropped when it closes."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.cached_results = LocalCache()
        """Cached states written by this process, so a hit does not wait for the report."""
        self._flow_ids: dict[str, uuid.UUID] = {}
        self._lock = threading.Lock()
        self._log_shipper: LogShipper | None = None
        self._tag_slots: TagSlots | None = None

    def flow_id(self, name: str) -> uuid.UUID:
        """The registered flow's id, asked of the server once per name."""
        known = self._flow_ids.get(name)
        if known is None:
            known = self._flow_ids[name] = self.create_flow(name).id
        return known

    def log_shipper(self) -> LogShipper:
        """The shipper of the run loggers' records through this client, installed on first use."""
        shipper = self._log_shipper
        if shipper is None:
            with self._lock:
                shipper = self._log_shipper
                if shipper is None:
                    from runplane._runtime.run_logs import install_log_shipping

                    shipper = self._log_shipper = install_log_shipping(self)
        return shipper

    def tag_slots(self) -> TagSlots:
        """Tag concurrency against this API: limits, leases, waiters."""
        slots = self._tag_slots
        if slots is None:
            with self._lock:
                slots = self._tag_slots
                if slots is None:
                    from runplane._engine.task_slots import TagSlots

                    slots = self._tag_slots = TagSlots(self)
        return slots

    def close(self) -> None:
        """Sends the logs still queued, forgets what it knew, then disconnects."""
        with self._lock:
            shipper, self._log_shipper = self._log_shipper, None
            self._tag_slots = None
            self._flow_ids.clear()
        self.cached_results.clear()
        try:
            if shipper is not None:
                from runplane._runtime.run_logs import uninstall_log_shipping

                uninstall_log_shipping(shipper, timeout=5.0)
        finally:
            super().close()


_lock = threading.Lock()
_client: EngineClient | None = None
_client_key: tuple[str | None, str | None] | None = None


def _environment_key() -> tuple[str | None, str | None]:
    return os.environ.get("RUNPLANE_API_URL"), os.environ.get("RUNPLANE_HOME")


def engine_client() -> EngineClient:
    """The open client for the API the environment names now."""
    global _client, _client_key
    key = _environment_key()
    client = _client
    if client is not None and _client_key == key:
        return client
    with _lock:
        if _client is not None and _client_key == key:
            return _client
        stale, _client = _client, None
        if stale is not None:
            stale.close()
        fresh = EngineClient()
        fresh.open()
        _client, _client_key = fresh, key
        return fresh


def reset_engine_client() -> None:
    """Closes the shared client; the next run opens a fresh one."""
    global _client, _client_key
    with _lock:
        stale, _client, _client_key = _client, None, None
    if stale is not None:
        stale.close()


atexit.register(reset_engine_client)
