"""Cache policies: how a task run's cache key is computed from what it runs on.

A key is a string; two task runs with the same key share one persisted result. A
policy may answer None, meaning "do not cache this run".

Combining policies with ``+`` hashes their keys together. If any part answers None,
the combination answers None: a part that cannot identify the run (``RUN_ID`` outside
a flow, inputs that cannot be hashed) must not be silently left out, or unrelated
runs would share results. ``NO_CACHE`` therefore switches caching off in any sum.

``INPUTS`` hashes the parameters in a canonical JSON form (keys sorted; tuples, sets,
dataclasses, pydantic models, enums, UUIDs, dates, paths and bytes are spelled out).
Values with no such form are hashed by their cloudpickle bytes, which is stable for
plain objects but not across processes for objects whose pickle depends on memory
layout or hash seeds; a value that cannot be pickled at all (a lock, an open file, a
generator) makes the key None, so the run is simply not cached.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import inspect
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import PurePath
from typing import Any

__all__ = [
    "DEFAULT",
    "FLOW_PARAMETERS",
    "INPUTS",
    "NO_CACHE",
    "RUN_ID",
    "TASK_SOURCE",
    "CacheKeyContext",
    "CachePolicy",
    "CompoundPolicy",
    "Inputs",
    "policy_from_key_fn",
    "stable_hash",
    "task_input_hash",
    "task_source_hash",
]


@dataclass(frozen=True)
class CacheKeyContext:
    """What a policy may look at besides the parameters."""

    task_key: str
    task_source_hash: str
    flow_run_id: uuid.UUID | None
    task_run_id: uuid.UUID
    flow_parameters: Mapping[str, Any] | None = None
    """The flow run's parameters as recorded; None outside a flow."""


CacheKeyFn = Callable[[CacheKeyContext, Mapping[str, Any]], str | None]


def stable_hash(*parts: str | bytes) -> str:
    """A hex SHA-256 over the parts, each length-prefixed so that ("ab","c") != ("a","bc")."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


class CachePolicy:
    """Base of cache policies; subclasses implement ``compute_key``."""

    def compute_key(self, context: CacheKeyContext, parameters: Mapping[str, Any]) -> str | None:
        raise NotImplementedError

    def __add__(self, other: CachePolicy) -> CachePolicy:
        if not isinstance(other, CachePolicy):
            return NotImplemented
        return CompoundPolicy((*_flatten(self), *_flatten(other)))


def _flatten(policy: CachePolicy) -> tuple[CachePolicy, ...]:
    return policy.policies if isinstance(policy, CompoundPolicy) else (policy,)


@dataclass(frozen=True)
class CompoundPolicy(CachePolicy):
    """Several policies at once: their keys hashed together, None if any part is None."""

    policies: tuple[CachePolicy, ...]

    def compute_key(self, context: CacheKeyContext, parameters: Mapping[str, Any]) -> str | None:
        keys: list[str] = []
        for policy in self.policies:
            key = policy.compute_key(context, parameters)
            if key is None:
                return None
            keys.append(key)
        return stable_hash(*keys)


@dataclass(frozen=True)
class Inputs(CachePolicy):
    """The parameters' values; ``exclude`` names parameters that must not affect the key."""

    exclude: tuple[str, ...] = ()

    def compute_key(self, context: CacheKeyContext, parameters: Mapping[str, Any]) -> str | None:
        kept = {name: value for name, value in parameters.items() if name not in self.exclude}
        return hash_parameters(kept)

    def __sub__(self, name: str) -> Inputs:
        """``INPUTS - "verbose"``: the same policy, ignoring one more parameter."""
        return Inputs((*self.exclude, name))


@dataclass(frozen=True)
class TaskSource(CachePolicy):
    """The task function's source code (its qualified name when the source is unavailable)."""

    def compute_key(self, context: CacheKeyContext, parameters: Mapping[str, Any]) -> str | None:
        return context.task_source_hash


@dataclass(frozen=True)
class RunId(CachePolicy):
    """The flow run: results are reused only within one run; None outside a flow."""

    def compute_key(self, context: CacheKeyContext, parameters: Mapping[str, Any]) -> str | None:
        return None if context.flow_run_id is None else str(context.flow_run_id)


@dataclass(frozen=True)
class FlowParameters(CachePolicy):
    """The flow run's parameters: runs of the flow with equal parameters share results."""

    def compute_key(self, context: CacheKeyContext, parameters: Mapping[str, Any]) -> str | None:
        if context.flow_parameters is None:
            return None
        return hash_parameters(context.flow_parameters)


@dataclass(frozen=True)
class NoCache(CachePolicy):
    """Never caches."""

    def compute_key(self, context: CacheKeyContext, parameters: Mapping[str, Any]) -> str | None:
        return None


@dataclass(frozen=True)
class KeyFunction(CachePolicy):
    """A user's ``cache_key_fn(context, parameters)``; its key is used as returned."""

    fn: CacheKeyFn

    def compute_key(self, context: CacheKeyContext, parameters: Mapping[str, Any]) -> str | None:
        key = self.fn(context, parameters)
        if key is not None and not isinstance(key, str):
            raise TypeError(
                f"cache_key_fn {getattr(self.fn, '__qualname__', self.fn)!r} must return a "
                f"str or None, not {type(key).__name__}"
            )
        return key


def policy_from_key_fn(fn: CacheKeyFn) -> CachePolicy:
    """Wraps ``cache_key_fn(context, parameters) -> str | None`` as a policy."""
    return KeyFunction(fn)


INPUTS = Inputs()
TASK_SOURCE = TaskSource()
RUN_ID = RunId()
FLOW_PARAMETERS = FlowParameters()
NO_CACHE = NoCache()
DEFAULT = INPUTS + TASK_SOURCE + RUN_ID


def task_input_hash(context: CacheKeyContext, arguments: Mapping[str, Any]) -> str | None:
    """A ``cache_key_fn``: the task, its source code and its arguments, as Prefect's.

    None (no caching) when an argument can be neither spelled nor pickled.
    """
    inputs = hash_parameters(arguments)
    if inputs is None:
        return None
    return stable_hash(context.task_key, context.task_source_hash, inputs)


def task_source_hash(fn: Callable[..., Any]) -> str:
    """A hash of ``fn``'s source code, or of its module and qualified name without source."""
    target = inspect.unwrap(fn)
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        module = getattr(target, "__module__", "") or ""
        source = f"{module}:{getattr(target, '__qualname__', repr(target))}"
    return stable_hash(source)


def hash_parameters(parameters: Mapping[str, Any]) -> str | None:
    """The stable hash ``INPUTS`` uses; None when a value can be neither spelled nor pickled."""
    try:
        text = json.dumps(
            {str(k): _canonical(v) for k, v in parameters.items()},
            sort_keys=True,
            separators=(",", ":"),
            allow_nan=True,
        )
        return stable_hash("json", text)
    except _NotCanonical:
        pass
    import cloudpickle  # deferred: most parameters never need it

    try:
        data: bytes = cloudpickle.dumps(sorted(parameters.items(), key=lambda item: item[0]))
    except Exception:
        return None
    return stable_hash("pickle", data)


class _NotCanonical(Exception):
    """A value has no canonical JSON spelling."""


def _canonical(value: Any) -> Any:
    """A JSON-able form that keeps types apart (the tuple (1,) and the list [1] differ)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, tuple):
        return {"tuple": [_canonical(item) for item in value]}
    if isinstance(value, dict):
        return {"dict": _canonical_pairs(value.items())}
    if isinstance(value, set | frozenset):
        items = sorted(json.dumps(_canonical(item), sort_keys=True) for item in value)
        return {"set": items}
    return _canonical_object(value)


def _canonical_pairs(pairs: Iterable[tuple[Any, Any]]) -> list[Any]:
    spelled = [(json.dumps(_canonical(k), sort_keys=True), _canonical(v)) for k, v in pairs]
    return [list(pair) for pair in sorted(spelled, key=lambda pair: pair[0])]


def _canonical_object(value: Any) -> Any:
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if isinstance(value, enum.Enum):
        return {kind: _canonical(value.value)}
    if isinstance(value, uuid.UUID | datetime | date | time | timedelta | PurePath):
        return {kind: str(value)}
    if isinstance(value, bytes | bytearray):
        return {kind: hashlib.sha256(value).hexdigest()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {kind: _canonical(fields)}
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):  # a pydantic model
        return {kind: _canonical(dump(mode="python"))}
    raise _NotCanonical(kind)
