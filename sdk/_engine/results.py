"""Which results are persisted, where, and the in-process part of the task cache."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runplane._runtime.result_trust import trust_storage

if TYPE_CHECKING:
    from runplane._client.states import ResultRef
    from runplane._runtime.results import ResultSerializer, ResultStorage, ResultStore


@dataclass(frozen=True, slots=True)
class ResultOptions:
    """A flow's or task's result settings, as given to the decorator."""

    persist_result: bool | None = None
    result_storage: ResultStorage | None = None
    result_serializer: ResultSerializer | str | None = None
    storage_key: str | None = None
    """A task's ``result_storage_key`` template; None stores under a random key."""
    in_memory: bool = True
    """``cache_result_in_memory``: False keeps only the stored result, read back on demand.
    It implies persisting; with ``persist_result=False`` the value stays in memory after all,
    as nothing else holds it."""

    def __post_init__(self) -> None:
        # Storage the user's own code names for its results is storage it reads back from.
        if self.result_storage is not None:
            trust_storage(self.result_storage)

    def persists(self, caching: bool = False) -> bool:
        """Off by default; on when asked for, or implied by caching, storage, serializer or a
        storage key."""
        if self.persist_result is not None:
            return self.persist_result
        return (
            caching
            or self.result_storage is not None
            or self.result_serializer is not None
            or self.storage_key is not None
            or not self.in_memory
        )


def check_serializer(serializer: ResultSerializer | str | None) -> None:
    """Fails at decoration time on an unknown serializer name."""
    if serializer is not None:
        from runplane._runtime.results import resolve_serializer

        resolve_serializer(serializer)


class ResultStores:
    """The result stores one flow run uses, opened once each."""

    def __init__(self) -> None:
        self._stores: dict[tuple[int, str], ResultStore] = {}
        self._default: ResultStore | None = None

    def default(self) -> ResultStore:
        if self._default is None:
            from runplane._runtime.results import default_result_store

            self._default = default_result_store()
        return self._default

    def for_options(self, options: ResultOptions) -> ResultStore:
        if options.result_storage is None and options.result_serializer is None:
            return self.default()
        from runplane._runtime.results import ResultStore, resolve_serializer

        storage = options.result_storage or self.default().storage
        serializer = resolve_serializer(options.result_serializer or self.default().serializer)
        key = (id(storage), serializer.name)
        store = self._stores.get(key)
        if store is None:
            store = self._stores[key] = ResultStore(storage, serializer)
        return store


NOT_IN_MEMORY: Any = object()
"""Stands for a cached value this process stored but did not keep (``cache_result_in_memory``)."""


class LocalCache:
    """Cached states written by this process, so a hit does not wait for the report to land."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[ResultRef | None, Any, datetime | None]] = {}

    def put(self, key: str, ref: ResultRef | None, value: Any, expiration: datetime | None) -> None:
        with self._lock:
            self._entries[key] = (ref, value, expiration)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get(self, key: str) -> tuple[ResultRef | None, Any, datetime | None] | None:
        """The result reference, value and expiration stored under ``key``, unless expired."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        expiration = entry[2]
        if expiration is not None and expiration.timestamp() <= time.time():
            return None
        return entry
