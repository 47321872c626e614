"""What the engine records about a task run: plain, unvalidated values for the hot path."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from runplane._client.states import ResultRef, StateType


@dataclass(slots=True, frozen=True)
class TaskRunCreate:
    """What a task run is, captured on the hot path without validation."""

    task_key: str
    dynamic_key: str
    name: str
    tags: tuple[str, ...]
    task_version: str | None
    retries: int
    inputs: dict[str, tuple[uuid.UUID, ...]]
    retry_delays: Sequence[float] = ()
    """Seconds before each retry; the last value repeats."""


@dataclass(slots=True, frozen=True)
class Transition:
    """A state decided by the client; ``at`` is ``time.time()`` when it was decided."""

    type: StateType
    name: str
    at: float
    message: str = ""
    result: ResultRef | None = None
    scheduled_time: float | None = None
    cache_key: str | None = None
    cache_expiration: datetime | None = None
    child_flow_run_id: uuid.UUID | None = None
    upstream_task_run_id: uuid.UUID | None = None


Record = tuple[int, uuid.UUID, TaskRunCreate | None, Transition]
