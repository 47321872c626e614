"""Run results: where they are stored, how they are encoded, and how a state reads them back.

A persisted result is written once under a key and described by a ``ResultRef``
(storage name, key, serializer name) carried by the terminal state. Any process can
reopen the storage from that name (``resolve_storage``) and decode the value, so
``state.result()`` works long after the run ended, on another machine sharing the
storage. Small JSON values may also travel inline in the reference itself.

A reference is data from the server, so it is loaded only from storage this process
trusts (see ``runplane._runtime.result_trust``); anything else raises ``UntrustedResult``.

Storage names are ``"<scheme>:<location>"``; ``local-file:/abs/path`` is built in and
``register_storage_scheme`` adds others (an object store, for instance).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from runplane._client.states import ResultRef, State, StateType
from runplane._runtime.result_trust import (
    LOCAL_FILE_SCHEME,
    UnsafeResultKey,
    UntrustedResult,
    check_reference,
    local_root,
    trust_storage,
    unsafe_key_reason,
)

if TYPE_CHECKING:
    from runplane._client.settings import Settings

__all__ = [
    "JSONSerializer",
    "LocalFileSystem",
    "MissingResult",
    "PickleSerializer",
    "ResultSerializer",
    "ResultStorage",
    "ResultStore",
    "RunFailed",
    "SerializationError",
    "UnsafeResultKey",
    "UntrustedResult",
    "default_result_store",
    "load_result",
    "register_storage_scheme",
    "resolve_serializer",
    "resolve_storage",
    "trust_storage",
]


class SerializationError(Exception):
    """A value could not be encoded (or decoded) by the chosen serializer."""


class MissingResult(Exception):
    """A state holds no result to read: persistence was off, or the run has not finished."""


class RunFailed(Exception):
    """A run ended FAILED, CRASHED or CANCELLED, and no exception of its own was stored."""


@runtime_checkable
class ResultStorage(Protocol):
    """Bytes under string keys. ``name`` lets another process reopen the same storage."""

    @property
    def name(self) -> str: ...

    def write(self, key: str, data: bytes) -> None: ...

    def read(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


@runtime_checkable
class ResultSerializer(Protocol):
    """Turns values into bytes and back; ``name`` is recorded in every ``ResultRef``."""

    @property
    def name(self) -> str: ...

    def dumps(self, obj: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class LocalFileSystem:
    """Results as files under ``basepath``; writes are atomic (a temp file, then a rename).

    Keys are relative POSIX paths (``a/b`` makes a sub-folder); absolute keys, ``..``,
    backslashes and empty segments are refused so that no key escapes ``basepath``.
    """

    def __init__(self, basepath: str | os.PathLike[str]) -> None:
        self.basepath = local_root(basepath)

    @property
    def name(self) -> str:
        return f"{LOCAL_FILE_SCHEME}:{self.basepath}"

    def __repr__(self) -> str:
        return f"LocalFileSystem({str(self.basepath)!r})"

    def path_of(self, key: str) -> Path:
        """The file that holds ``key``; raises ``UnsafeResultKey`` (a ValueError) for a key
        that could escape: ``..``, absolute, or through a symlink that leads out."""
        reason = unsafe_key_reason(key)
        if reason is not None:
            raise UnsafeResultKey(f"invalid result key {key!r}: {reason}")
        path = self.basepath.joinpath(*key.split("/"))
        if not path.resolve().is_relative_to(self.basepath):
            raise UnsafeResultKey(f"invalid result key {key!r}: resolves outside the storage")
        return path

    def write(self, key: str, data: bytes) -> None:
        path = self.path_of(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Same folder, so the rename is atomic: readers see the old file or the whole new one.
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def read(self, key: str) -> bytes:
        path = self.path_of(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise MissingResult(f"no result stored under {key!r} in {self.name}") from None

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()


_storage_openers: dict[str, Callable[[str], ResultStorage]] = {
    LOCAL_FILE_SCHEME: LocalFileSystem,
}


def register_storage_scheme(scheme: str, opener: Callable[[str], ResultStorage]) -> None:
    """Lets ``resolve_storage`` reopen names ``"<scheme>:<location>"`` with ``opener(location)``."""
    _storage_openers[scheme] = opener


def resolve_storage(name: str) -> ResultStorage:
    """Reopens the storage a ``ResultRef.storage`` string names."""
    scheme, sep, location = name.partition(":")
    if not sep or not location:
        raise ValueError(f"result storage name {name!r} must look like '<scheme>:<location>'")
    opener = _storage_openers.get(scheme)
    if opener is None:
        known = ", ".join(sorted(_storage_openers))
        raise ValueError(f"unknown result storage scheme {scheme!r} (known: {known})")
    return opener(location)


class PickleSerializer:
    """Any picklable value, functions and lambdas included (cloudpickle)."""

    name = "cloudpickle"

    def dumps(self, obj: Any) -> bytes:
        import cloudpickle  # deferred: only runs that persist results pay for the import

        try:
            data: bytes = cloudpickle.dumps(obj)
        except Exception as err:
            raise SerializationError(
                f"cannot serialize a value of type {_type_name(obj)} with cloudpickle: {err}"
            ) from err
        return data

    def loads(self, data: bytes) -> Any:
        # cloudpickle output is plain pickle; reading it needs no cloudpickle import.
        try:
            return pickle.load(io.BytesIO(data))
        except Exception as err:
            raise SerializationError(f"cannot deserialize a cloudpickle result: {err}") from err


class JSONSerializer:
    """JSON-native values only: dict (string keys), list, tuple (read back as list), str,
    int, float, bool and None. Anything else is refused, naming its type."""

    name = "json"

    def dumps(self, obj: Any) -> bytes:
        try:
            return json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError) as err:
            raise SerializationError(
                f"cannot serialize a value of type {_type_name(obj)} as JSON: {err}"
            ) from err

    def loads(self, data: bytes) -> Any:
        try:
            return json.loads(data)
        except ValueError as err:
            raise SerializationError(f"cannot deserialize a JSON result: {err}") from err


_serializers: dict[str, Callable[[], ResultSerializer]] = {
    "cloudpickle": PickleSerializer,
    "pickle": PickleSerializer,
    "json": JSONSerializer,
}


def resolve_serializer(name_or_obj: str | ResultSerializer) -> ResultSerializer:
    """A serializer from its name ("cloudpickle", "pickle", "json"), or the object itself."""
    if not isinstance(name_or_obj, str):
        return name_or_obj
    factory = _serializers.get(name_or_obj.lower())
    if factory is None:
        known = ", ".join(sorted(_serializers))
        raise ValueError(f"unknown result serializer {name_or_obj!r} (known: {known})")
    return factory()


def _type_name(obj: Any) -> str:
    kind = type(obj)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class ResultStore:
    """Persists values to one storage with one serializer, and loads any ``ResultRef``."""

    def __init__(
        self, storage: ResultStorage, serializer: ResultSerializer | str = "cloudpickle"
    ) -> None:
        self.storage = storage
        self.serializer = resolve_serializer(serializer)
        # This process's own code chose the storage: what it finds there is its own.
        trust_storage(storage)

    def __repr__(self) -> str:
        return f"ResultStore({self.storage!r}, {self.serializer.name!r})"

    def persist(self, value: Any, key: str | None = None) -> ResultRef:
        """Writes ``value`` under ``key`` (a random one when None) and returns its reference.

        Raises ``SerializationError`` naming the type when the value cannot be encoded,
        before anything is written.
        """
        data = self.serializer.dumps(value)
        key = key or uuid.uuid4().hex
        self.storage.write(key, data)
        return ResultRef(storage=self.storage.name, key=key, serializer=self.serializer.name)

    def persist_exception(self, exc: BaseException, key: str | None = None) -> ResultRef:
        """Stores an exception for ``load_result`` to re-raise, always with cloudpickle.

        An exception that cannot be pickled is replaced by a ``RunFailed`` with its text.
        """
        pickler = PickleSerializer()
        try:
            data = pickler.dumps(exc)
            pickle.loads(data)  # some exceptions pickle but cannot be rebuilt
        except Exception:
            data = pickler.dumps(RunFailed(f"{_type_name(exc)}: {exc}"))
        key = key or uuid.uuid4().hex
        self.storage.write(key, data)
        return ResultRef(storage=self.storage.name, key=key, serializer=pickler.name)

    def exists(self, key: str) -> bool:
        return self.storage.exists(key)

    def load(self, ref: ResultRef) -> Any:
        """The value ``ref`` points to: inline, in this store, or in the trusted storage it
        names; ``UntrustedResult`` for any other storage, before anything is read."""
        return _load_ref(ref, default_serializer=self.serializer.name, known=self.storage)


def inline_ref(value: Any) -> ResultRef:
    """A reference that carries a JSON-native ``value`` itself; refuses anything else."""
    JSONSerializer().dumps(value)
    return ResultRef(serializer="json", inline_value=value)


def default_result_store(settings: Settings | None = None) -> ResultStore:
    """Files under ``RUNPLANE_HOME/results``, encoded with cloudpickle."""
    if settings is None:
        from runplane._client.settings import get_settings

        settings = get_settings()
    return ResultStore(LocalFileSystem(settings.home / "results"), PickleSerializer())


def _load_ref(
    ref: ResultRef, default_serializer: str = "cloudpickle", known: ResultStorage | None = None
) -> Any:
    """Loads ``ref`` once ``check_reference`` allowed it; ``known`` is a storage already open."""
    if ref.is_inline:
        return ref.inline_value
    from runplane._client.settings import get_settings

    serializer = resolve_serializer(ref.serializer or default_serializer)
    name = check_reference(ref.storage, ref.key, serializer.name, get_settings())
    storage = known if known is not None and known.name == name else resolve_storage(name)
    try:
        data = storage.read(ref.key)
    except UnsafeResultKey as err:
        raise UntrustedResult(
            f"result key {ref.key!r} in {ref.storage!r} was not read: {err}"
        ) from err
    return serializer.loads(data)


_FAILED_TYPES = frozenset({StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})


def load_result(state: State, raise_on_failure: bool = True) -> Any:
    """The value of a finished run, read back through the state's result reference.

    COMPLETED: the value (``MissingResult`` when none was persisted). FAILED, CRASHED or
    CANCELLED: raises the stored exception, or ``RunFailed(state.message)`` when none was
    stored; with ``raise_on_failure=False`` that exception is returned instead. Any other
    state: ``MissingResult``.
    """
    if state.type in _FAILED_TYPES:
        error = _failure(state)
        if raise_on_failure:
            raise error
        return error
    if state.type is not StateType.COMPLETED:
        raise MissingResult(f"the run is {state.name or state.type.value}: it has no result yet")
    if state.result_ref is None:
        raise MissingResult(
            "the run completed without a persisted result; set persist_result=True to keep it"
        )
    return _load_ref(state.result_ref)


def _failure(state: State) -> BaseException:
    message = state.message or f"the run ended {state.name or state.type.value}"
    if state.result_ref is None:
        return RunFailed(message)
    try:
        stored = _load_ref(state.result_ref)
    except (MissingResult, SerializationError, UntrustedResult, ValueError, OSError) as err:
        failed = RunFailed(f"{message} (its stored exception could not be read: {err})")
        failed.__cause__ = err
        return failed
    return stored if isinstance(stored, BaseException) else RunFailed(message)
