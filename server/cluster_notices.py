"""What the server processes on one PostgreSQL database tell each other (NOTIFY payloads).

Every payload is one JSON object: ``{"v": 1, "kind": ..., "sender": ..., ...}``, the fields
after ``sender`` depending on the kind (one model each, below). ``sender`` is a token of the
sending process, so that a process skips its own notices. Within one version a kind may gain
optional fields (older servers ignore them); anything else changes ``v``.

Servers of two versions share the database during a rolling upgrade, so decoding never
fails: a payload of an unknown version or kind, or one that is not what its kind says, is
ignored (logged once at debug level per version and kind). The one-letter form that servers
sent before (``s <token> <id> ...``) is still understood. Payloads stay under PostgreSQL's
8000 bytes: notices that carry lists are cut into as many payloads as size needs.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

logger = logging.getLogger(__name__)
T = TypeVar("T")

VERSION = 1
MAX_PAYLOAD_BYTES = 7000
"""Under PostgreSQL's limit of 8000 bytes, with room to spare."""


class _Notice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sender: str


class WorkDue(_Notice):
    """Runs of ``pool`` (of any pool when None) may be due."""

    kind: Literal["work"] = "work"
    pool: str | None = None


class SlotsFreed(_Notice):
    """A run left PENDING, RUNNING or CANCELLING: room under a concurrency limit."""

    kind: Literal["slots_freed"] = "slots_freed"


class Cancelling(_Notice):
    """A run became CANCELLING; the server holding its runner's stream tells the runner."""

    kind: Literal["cancelling"] = "cancelling"
    run_id: uuid.UUID


class PoolsAnnounced(_Notice):
    """The sender's subscribed pools; see :mod:`runplane.server.delivery.presence`."""

    kind: Literal["pools"] = "pools"
    n: int
    """The announcement's number: the parts of one announcement share it."""
    pools: list[str]
    limited: list[str] = []
    runtimes: dict[str, list[str]] = {}


class StatesWritten(_Notice):
    """Flow-run states the sender committed, by state id."""

    kind: Literal["states"] = "states"
    state_ids: list[uuid.UUID]


class LogsWritten(_Notice):
    """Log records the sender committed: a flow run id and the first and last record id."""

    kind: Literal["logs"] = "logs"
    ranges: list[tuple[uuid.UUID, int, int]]


class TaskRunsChanged(_Notice):
    """Task runs the sender created or moved: background runs may wait for a task worker,
    a watched run may have changed."""

    kind: Literal["task_runs"] = "task_runs"
    run_ids: list[uuid.UUID]


Notice = (
    WorkDue
    | SlotsFreed
    | Cancelling
    | PoolsAnnounced
    | StatesWritten
    | LogsWritten
    | TaskRunsChanged
)


@functools.cache
def _notice() -> TypeAdapter[Notice]:
    # Built on first use: a server on SQLite has no other process to hear from.
    return TypeAdapter(Annotated[Notice, Field(discriminator="kind")])


_KINDS = frozenset(
    model.model_fields["kind"].default
    for model in (
        WorkDue,
        SlotsFreed,
        Cancelling,
        PoolsAnnounced,
        StatesWritten,
        LogsWritten,
        TaskRunsChanged,
    )
)


def encode(notice: Notice) -> str:
    """The payload of one notice; check its size with :func:`fits` when it carries a list."""
    return _dumps({"v": VERSION, "kind": notice.kind, **notice.model_dump(mode="json")})


def fits(payload: str) -> bool:
    """Whether the payload is small enough to send."""
    return len(payload.encode()) <= MAX_PAYLOAD_BYTES


def states_written(sender: str, state_ids: Iterable[uuid.UUID]) -> list[str]:
    """Payloads of :class:`StatesWritten`, as many as size needs (none for no ids)."""
    return _batched("states", sender, "state_ids", [str(i) for i in state_ids])


def task_runs_changed(sender: str, run_ids: Iterable[uuid.UUID]) -> list[str]:
    """Payloads of :class:`TaskRunsChanged`, as many as size needs (none for no ids)."""
    return _batched("task_runs", sender, "run_ids", [str(i) for i in run_ids])


def logs_written(sender: str, ranges: Iterable[tuple[uuid.UUID, int, int]]) -> list[str]:
    """Payloads of :class:`LogsWritten`, as many as size needs (none for no ranges)."""
    return _batched("logs", sender, "ranges", [[str(r), f, t] for r, f, t in ranges])


def _batched(kind: str, sender: str, field: str, items: Sequence[Any]) -> list[str]:
    # Compact JSON with ASCII escapes: a payload's length is its size in bytes, and a list
    # grows by each item's text and a comma.
    empty = len(_dumps({"v": VERSION, "kind": kind, "sender": sender, field: []}))
    chunks: list[list[Any]] = []
    size = empty
    for item in items:
        cost = len(_dumps(item)) + 1
        if not chunks or size + cost > MAX_PAYLOAD_BYTES:
            chunks.append([])
            size = empty
        chunks[-1].append(item)
        size += cost
    return [_dumps({"v": VERSION, "kind": kind, "sender": sender, field: c}) for c in chunks]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def decode(payload: str) -> Notice | None:
    """The notice in a payload; None for one to ignore (see above)."""
    notice = _decode_json(payload) if payload.startswith("{") else _decode_letter(payload)
    if isinstance(notice, str):
        _report(notice)
        return None
    return notice


def _decode_json(payload: str) -> Notice | str:
    """The notice, or why there is none."""
    try:
        message = json.loads(payload)
    except ValueError:
        return "not JSON"
    if not isinstance(message, dict):
        return "not a JSON object"
    version, kind = message.get("v"), message.get("kind")
    if version != VERSION:
        return f"version {version!r}"
    if kind not in _KINDS:
        return f"kind {kind!r}"
    try:
        return _notice().validate_python(message)
    except ValidationError:
        return f"malformed {kind}"


def _decode_letter(payload: str) -> Notice | str:
    """The one-letter form, ``<letter> <sender> <rest>``, or why there is no notice in it.
    Malformed list items are skipped."""
    letter, _, rest = payload.partition(" ")
    sender, _, body = rest.partition(" ")
    try:
        if letter == "w":
            return WorkDue(sender=sender, pool=body or None)
        if letter == "f":
            return SlotsFreed(sender=sender)
        if letter == "c":
            return Cancelling(sender=sender, run_id=uuid.UUID(body))
        if letter == "p":
            return PoolsAnnounced.model_validate({**json.loads(body), "sender": sender})
        if letter == "s":
            return StatesWritten(sender=sender, state_ids=_valid(_state_id, body.split()))
        if letter == "l":
            return LogsWritten(sender=sender, ranges=_valid(_log_range, body.split()))
    except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
        return f"malformed one-letter {letter!r}"
    return f"one-letter {letter!r}"


def _state_id(item: str) -> uuid.UUID:
    return uuid.UUID(item)


def _log_range(item: str) -> tuple[uuid.UUID, int, int]:
    run_id, first, last = item.split(":")
    return uuid.UUID(run_id), int(first), int(last)


def _valid(parse: Callable[[str], T], items: Iterable[str]) -> list[T]:
    result: list[T] = []
    for item in items:
        try:
            result.append(parse(item))
        except ValueError:
            continue
    return result


_REPORTED: set[str] = set()
_MAX_REPORTED = 100


def _report(why: str) -> None:
    """Logs why a payload is ignored, the first time for each reason (a bounded number)."""
    why = why[:80]
    if why not in _REPORTED and len(_REPORTED) < _MAX_REPORTED:
        _REPORTED.add(why)
        logger.debug("ignoring notifications from other servers: %s (logged once)", why)
