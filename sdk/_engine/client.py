"""The blocking client the engine uses, one per process and API address.

Opening a client costs a thread and a channel, so runs share it; it is replaced when the
environment points at another API, and closed at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
import threading

from runplane._engine.results import process_cache
from runplane._sync_client import SyncRunplaneClient

_lock = threading.Lock()
_client: SyncRunplaneClient | None = None
_client_key: tuple[str | None, str | None] | None = None


def _environment_key() -> tuple[str | None, str | None]:
    return os.environ.get("RUNPLANE_API_URL"), os.environ.get("RUNPLANE_HOME")


def engine_client() -> SyncRunplaneClient:
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
        process_cache.clear()  # cached results belong to the API that recorded them
        fresh = SyncRunplaneClient()
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
    process_cache.clear()


atexit.register(reset_engine_client)
