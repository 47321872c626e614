"""Which result references this process may load: the reader decides, never the reference.

A ``ResultRef`` is data from the server, and any client holding an API key can write
one. Loading it reads bytes at the place it names and, with pickle, runs code those
bytes choose. So a reference is loaded only from result storage this process's own
configuration names:

- the ``results`` folder of the runplane home (the default store);
- the storages listed in ``RUNPLANE_RESULTS_TRUSTED_STORAGE``;
- the storages this process's own code writes results to or names as
  ``result_storage=`` (``trust_storage``);

its key must stay inside that storage, and pickled data is loaded only while
``RUNPLANE_RESULTS_ALLOW_PICKLE`` is on. Anything else raises ``UntrustedResult``
before a byte is read. Inline JSON results carry their value and read nothing, so
they are always loaded.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runplane._client.settings import Settings
    from runplane._runtime.results import ResultStorage

LOCAL_FILE_SCHEME = "local-file"
PICKLE_SERIALIZERS = frozenset({"cloudpickle", "pickle"})
TRUSTED_STORAGE_VARIABLE = "RUNPLANE_RESULTS_TRUSTED_STORAGE"
ALLOW_PICKLE_VARIABLE = "RUNPLANE_RESULTS_ALLOW_PICKLE"


class UntrustedResult(Exception):
    """A result reference names storage, a key or a serializer this process does not trust.

    Raised before anything is read, so no data of the reference reached the process.
    """


class UnsafeResultKey(ValueError):
    """A result key that could point outside its storage (``..``, absolute, a symlink out)."""


def unsafe_key_reason(key: str) -> str | None:
    """Why ``key`` could escape its storage, or None for a plain relative POSIX path."""
    segments = key.split("/")
    if "\\" in key or "\x00" in key or any(s in ("", ".", "..") for s in segments):
        return "must be a relative path without '..' or empty parts"
    return None


def local_root(location: str | os.PathLike[str]) -> Path:
    """The absolute, symlink-free folder a ``local-file`` storage location names."""
    return Path(location).expanduser().resolve()


def canonical_storage_name(name: str) -> str:
    """``name`` spelled the way the storage spells itself, so equal storages compare equal.

    A ``local-file`` location is resolved (``~``, ``..`` and symlinks), as ``LocalFileSystem``
    does: ``local-file:/home/me/.runplane/results/../../../etc`` is ``local-file:/etc``.
    """
    scheme, sep, location = name.strip().partition(":")
    if sep and location and scheme == LOCAL_FILE_SCHEME:
        return f"{LOCAL_FILE_SCHEME}:{local_root(location)}"
    return name.strip()


_lock = threading.Lock()
_trusted_here: set[str] = set()


def trust_storage(storage: ResultStorage | str) -> None:
    """Lets this process load results from ``storage`` (a storage, or its name).

    Called for every storage this process writes results to and every ``result_storage=``
    its flows and tasks name; call it for a storage that only other processes write to,
    or list that storage in ``RUNPLANE_RESULTS_TRUSTED_STORAGE``.
    """
    name = storage if isinstance(storage, str) else storage.name
    with _lock:
        _trusted_here.add(canonical_storage_name(name))


def trusted_storage_names(settings: Settings) -> frozenset[str]:
    """Every storage name this process loads results from, canonical."""
    configured = {canonical_storage_name(name) for name in settings.results_trusted_storage}
    home = f"{LOCAL_FILE_SCHEME}:{local_root(settings.home / 'results')}"
    with _lock:
        return frozenset({home, *configured, *_trusted_here})


def check_reference(storage: str, key: str, serializer: str, settings: Settings) -> str:
    """The canonical name of ``storage`` when a reference to it may be loaded.

    Raises ``UntrustedResult`` naming the storage (or key, or serializer) and the setting
    that would change the answer.
    """
    name = canonical_storage_name(storage)
    if name not in trusted_storage_names(settings):
        raise UntrustedResult(
            f"result storage {storage!r} is not trusted by this process, so its result was not "
            f"read; if you trust every client that can write there, add it to "
            f"{TRUSTED_STORAGE_VARIABLE} (comma-separated storage names)"
        )
    reason = unsafe_key_reason(key)
    if reason is not None:
        raise UntrustedResult(
            f"result key {key!r} in {storage!r} was not read: a result key {reason}"
        )
    if serializer.lower() in PICKLE_SERIALIZERS and not settings.results_allow_pickle:
        raise UntrustedResult(
            f"the result in {storage!r} is pickled ({serializer!r}) and {ALLOW_PICKLE_VARIABLE} "
            f"is off, so it was not loaded"
        )
    return name
