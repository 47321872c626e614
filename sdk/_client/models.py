"""The SDK's data models: what the client takes and returns instead of protobuf messages.

Ids are UUIDs, times are aware datetimes, durations are timedeltas and JSON values are
plain Python objects. State models live in ``_states`` and are re-exported here.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from runplane._client.states import (
    TERMINAL_STATE_TYPES,
    Frozen,
    OrchestrationResult,
    OrchestrationStatus,
    ResultRef,
    RetryPolicy,
    State,
    StateDetails,
    StateType,
)

__all__ = [
    "TERMINAL_STATE_TYPES",
    "CachedState",
    "CancelRun",
    "CatchupPolicy",
    "CollisionStrategy",
    "ConcurrencyLease",
    "ConcurrencyLimit",
    "CronSchedule",
    "Deployment",
    "DeploymentSchedule",
    "Flow",
    "FlowRun",
    "FlowRunChange",
    "FlowRunFilter",
    "HeartbeatResult",
    "IntervalSchedule",
    "LogFilter",
    "LogRecord",
    "OrchestrationResult",
    "OrchestrationStatus",
    "Page",
    "Ping",
    "RRuleSchedule",
    "Reconnect",
    "ResultRef",
    "RetryPolicy",
    "RunAssignment",
    "State",
    "StateDetails",
    "StateType",
    "SubscriptionStarted",
    "TaskRun",
    "TaskRunFilter",
    "TaskRunSpec",
    "TaskRunUpdate",
    "WorkItem",
    "WorkPool",
    "WorkQueue",
]

T = TypeVar("T")
JsonObject = dict[str, Any]

DEFAULT_RUNTIME = "python"
"""The runtime of a deployment that names none: the Python runner runs it."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list call; pass ``next_page_token`` back to get the next one."""

    items: list[T]
    next_page_token: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def every_item(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a paged list, page after page; ``fetch(token)`` returns a page."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = page.next_page_token
        if not token:
            return


class Flow(Frozen):
    """A named workflow whose runs the server records."""

    id: UUID
    name: str
    tags: tuple[str, ...] = ()
    create_time: AwareDatetime | None = None


class FlowRun(Frozen):
    """One execution of a flow."""

    id: UUID
    name: str
    flow_id: UUID
    flow_name: str = ""
    deployment_id: UUID | None = None
    state: State | None = None
    parameters: JsonObject = Field(default_factory=dict)
    tags: tuple[str, ...] = ()
    run_count: int = 0
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None
    total_run_time: timedelta = timedelta(0)
    expected_start_time: AwareDatetime | None = None
    next_scheduled_start_time: AwareDatetime | None = None
    idempotency_key: str | None = None
    parent_task_run_id: UUID | None = None
    retry_policy: RetryPolicy | None = None
    job_variables: JsonObject = Field(default_factory=dict)
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    flow_version: str | None = None
    attempt: int = 0
    heartbeat_time: AwareDatetime | None = None
    create_time: AwareDatetime | None = None
    update_time: AwareDatetime | None = None
    runtime: str = DEFAULT_RUNTIME
    """Which runtime runs the run's code; its deployment's (read-only)."""


class FlowRunFilter(Frozen):
    """Selects flow runs; every set field must match."""

    flow_run_ids: tuple[UUID, ...] = ()
    flow_ids: tuple[UUID, ...] = ()
    deployment_ids: tuple[UUID, ...] = ()
    state_types: tuple[StateType, ...] = ()
    state_names: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    parent_task_run_id: UUID | None = None
    work_pool_name: str | None = None
    expected_start_time_before: AwareDatetime | None = None
    expected_start_time_after: AwareDatetime | None = None


class FlowRunChange(Frozen):
    """One state change of a watched flow run: the run after the change and the state written."""

    flow_run: FlowRun
    state: State


class TaskRun(Frozen):
    """One execution of a task: inside a flow run, or of its own (``flow_run_id`` None)."""

    id: UUID
    flow_run_id: UUID | None = None
    task_key: str
    dynamic_key: str = ""
    name: str = ""
    state: State | None = None
    cache_key: str | None = None
    cache_expiration: AwareDatetime | None = None
    task_version: str | None = None
    tags: tuple[str, ...] = ()
    run_count: int = 0
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None
    total_run_time: timedelta = timedelta(0)
    expected_start_time: AwareDatetime | None = None
    retry_policy: RetryPolicy | None = None
    inputs: dict[str, tuple[UUID, ...]] = Field(default_factory=dict)
    """Upstream task run ids per parameter name."""
    create_time: AwareDatetime | None = None
    update_time: AwareDatetime | None = None
    background: bool = False
    """Sent to task workers (``Task.delay``) rather than run by its caller."""
    parameters: dict[str, Any] | None = None
    """A background run's call arguments."""
    attempt: int = 0
    """How many times a background run was handed to a task worker."""


class TaskRunSpec(Frozen):
    """What a task run is, given when it is created; no flow run makes a run of its own."""

    flow_run_id: UUID | None = None
    task_key: str
    task_run_id: UUID | None = None
    dynamic_key: str = ""
    name: str = ""
    tags: tuple[str, ...] = ()
    task_version: str | None = None
    retry_policy: RetryPolicy | None = None
    inputs: dict[str, tuple[UUID, ...]] = Field(default_factory=dict)
    cache_key: str | None = None
    cache_expiration: AwareDatetime | None = None
    background: bool = False
    """Deliver the run to task workers; it must start SCHEDULED, outside any flow run."""
    parameters: dict[str, Any] | None = None
    """A background run's call arguments, JSON-native."""


class TaskRunFilter(Frozen):
    """Selects task runs; every set field must match."""

    task_run_ids: tuple[UUID, ...] = ()
    flow_run_ids: tuple[UUID, ...] = ()
    state_types: tuple[StateType, ...] = ()
    task_key: str | None = None
    cache_key: str | None = None


class TaskRunUpdate(Frozen):
    """One reported change: ``create`` makes the task run, ``state`` records its new state."""

    sequence: int = Field(ge=1)
    task_run_id: UUID
    create: TaskRunSpec | None = None
    state: State | None = None


class CachedState(Frozen):
    """A reusable COMPLETED state found under a cache key, and the task run that produced it."""

    state: State
    task_run_id: UUID | None = None


class CollisionStrategy(enum.StrEnum):
    """What happens to a new run when a deployment's concurrency limit is full."""

    ENQUEUE = "ENQUEUE"
    CANCEL_NEW = "CANCEL_NEW"


class CatchupPolicy(enum.StrEnum):
    """What happens to a schedule's fire times that passed without a run starting (an outage
    of the server, or no runner): all of them run, only the latest, or none. Runs created
    ahead that missed their time by more than the server's late grace are cancelled with the
    reason under ``LATEST_ONLY`` (all but the newest) and ``SKIP_MISSED``."""

    ALL = "ALL"
    LATEST_ONLY = "LATEST_ONLY"
    SKIP_MISSED = "SKIP_MISSED"


class CronSchedule(Frozen):
    """A cron expression read in ``timezone`` (UTC when unset)."""

    expression: str
    timezone: str | None = None
    day_or: bool = True
    """When both day fields are restricted: True matches either (cron's rule), False both."""


class IntervalSchedule(Frozen):
    """Runs every ``interval`` from ``anchor_time`` (the deployment's creation when unset)."""

    interval: timedelta
    anchor_time: AwareDatetime | None = None
    timezone: str | None = None


class RRuleSchedule(Frozen):
    """An RFC 5545 recurrence rule read in ``timezone`` (UTC when unset)."""

    rrule: str
    timezone: str | None = None


class DeploymentSchedule(Frozen):
    """One schedule of a deployment."""

    schedule: CronSchedule | IntervalSchedule | RRuleSchedule
    id: UUID | None = None
    active: bool = True
    parameters: JsonObject = Field(default_factory=dict)
    catchup: CatchupPolicy = CatchupPolicy.ALL


class Deployment(Frozen):
    """A flow packaged to run on a work pool, on demand or on schedules."""

    name: str
    entrypoint: str
    flow_name: str = ""
    flow_id: UUID | None = None
    id: UUID | None = None
    description: str = ""
    version: str | None = None
    tags: tuple[str, ...] = ()
    parameters: JsonObject = Field(default_factory=dict)
    parameter_schema: JsonObject = Field(default_factory=dict)
    enforce_parameter_schema: bool = False
    schedules: tuple[DeploymentSchedule, ...] = ()
    paused: bool = False
    concurrency_limit: int | None = None
    collision_strategy: CollisionStrategy = CollisionStrategy.ENQUEUE
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    job_variables: JsonObject = Field(default_factory=dict)
    retry_policy: RetryPolicy | None = None
    runtime: str = DEFAULT_RUNTIME
    """Which runtime runs the flow ("python", "node", ...): only runners that declare it
    receive the deployment's runs."""
    create_time: AwareDatetime | None = None
    update_time: AwareDatetime | None = None


class WorkPool(Frozen):
    """A pool of runners that execute deployments' runs."""

    name: str
    id: UUID | None = None
    description: str = ""
    paused: bool = False
    concurrency_limit: int | None = None
    subscriber_count: int = 0
    create_time: AwareDatetime | None = None


class WorkQueue(Frozen):
    """A queue within a work pool; lower priority numbers are served first."""

    name: str
    work_pool_name: str
    id: UUID | None = None
    priority: int = 0
    paused: bool = False
    concurrency_limit: int | None = None


class SubscriptionStarted(Frozen):
    """The first item of a work subscription: its identity, the heartbeat interval, and how
    long the server lets a RUNNING run go without a heartbeat (zero: not said)."""

    session_id: UUID
    runner_id: UUID
    heartbeat_interval: timedelta
    heartbeat_timeout: timedelta = timedelta(0)


class RunAssignment(Frozen):
    """A PENDING run handed to this runner under a lease."""

    flow_run: FlowRun
    deployment: Deployment | None
    lease_id: UUID
    lease_expire_time: AwareDatetime | None = None
    attempt: int = 0


class CancelRun(Frozen):
    """Asks the runner to stop a run it holds."""

    flow_run_id: UUID
    reason: str = ""


class Ping(Frozen):
    """Keeps an idle work stream alive."""

    time: AwareDatetime | None = None


class Reconnect(Frozen):
    """Asks the runner to close the work stream and subscribe again."""

    reason: str = ""


WorkItem = SubscriptionStarted | RunAssignment | CancelRun | Ping | Reconnect
"""One item of the work stream."""


class TaskWorkerStarted(Frozen):
    """The first item of a task-worker subscription: its identity and heartbeat timing."""

    session_id: UUID
    worker_id: UUID
    heartbeat_interval: timedelta
    heartbeat_timeout: timedelta


class TaskRunAssignment(Frozen):
    """A PENDING background run handed to this task worker under a lease."""

    task_run: TaskRun
    lease_id: UUID
    lease_expire_time: AwareDatetime | None = None


TaskWorkerItem = TaskWorkerStarted | TaskRunAssignment | Ping | Reconnect
"""One item of a task-worker stream."""


class TaskHeartbeatResult(Frozen):
    """The answer to a task worker's heartbeat."""

    unknown_task_run_ids: tuple[UUID, ...] = ()
    """Runs the worker no longer holds: it must stop them and report nothing."""
    lease_expire_time: AwareDatetime | None = None
    cancel_task_run_ids: tuple[UUID, ...] = ()
    """Runs someone cancelled: the worker stops them and proposes CANCELLED."""


class HeartbeatResult(Frozen):
    """The answer to a runner heartbeat."""

    cancel_flow_run_ids: tuple[UUID, ...] = ()
    """Runs the runner must stop."""
    unknown_flow_run_ids: tuple[UUID, ...] = ()
    """Runs the server does not assign to this runner; the runner must kill them."""
    lease_expire_time: AwareDatetime | None = None
    finished_flow_run_ids: tuple[UUID, ...] = ()
    """Runs already final: their processes may exit on their own for a grace period."""


class LogRecord(Frozen):
    """One log line of a flow run or task run (``flow_run_id`` None: a task run of its own)."""

    flow_run_id: UUID | None
    level: int
    message: str
    timestamp: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    logger_name: str = ""
    task_run_id: UUID | None = None
    id: str | None = None
    """Server-assigned, opaque (the server numbers records in write order)."""


class LogFilter(Frozen):
    """Selects log records; every set field must match."""

    flow_run_id: UUID | None = None
    task_run_id: UUID | None = None
    min_level: int = 0


class ArtifactType(enum.StrEnum):
    """What an artifact's data holds."""

    MARKDOWN = "MARKDOWN"
    TABLE = "TABLE"  # JSON: a list of row objects, an object of column lists, or row lists
    LINK = "LINK"  # a URL, or Markdown "[text](url)"
    PROGRESS = "PROGRESS"  # a number from 0 to 100, e.g. "42.5"
    IMAGE = "IMAGE"  # an image's http(s) URL


class Artifact(Frozen):
    """A result a run publishes for people to read: a Markdown report, a table, a link, a
    progress or an image.

    Artifacts with the same ``key`` are versions of one another; lists come newest first.
    """

    id: UUID
    type: ArtifactType
    data: str
    key: str | None = None
    description: str = ""
    flow_run_id: UUID | None = None
    task_run_id: UUID | None = None
    create_time: AwareDatetime | None = None


class Variable(Frozen):
    """A named JSON value kept by the control plane, for configuration read at run time.

    ``Variable.get("name", default)`` reads a value, ``Variable.set("name", value)`` stores
    one and ``Variable.unset("name")`` deletes it, against the same API as the engine (the
    embedded control plane, or the server ``RUNPLANE_API_URL`` names); ``aget``, ``aset``
    and ``aunset`` do the same from coroutines.
    """

    id: UUID
    name: str
    value: Any = None
    tags: tuple[str, ...] = ()
    create_time: AwareDatetime | None = None
    update_time: AwareDatetime | None = None

    @classmethod
    def get(cls, name: str, default: Any = None) -> Any:
        """The variable's value, or ``default`` when no variable has this name."""
        from runplane._runtime.variables import get_value

        return get_value(name, default)

    @classmethod
    def set(
        cls, name: str, value: Any, *, tags: Sequence[str] = (), overwrite: bool = False
    ) -> Variable:
        """Stores a variable; an existing name raises ``AlreadyExists`` unless ``overwrite``."""
        from runplane._runtime.variables import set_value

        return set_value(name, value, tags, overwrite)

    @classmethod
    def unset(cls, name: str) -> bool:
        """Deletes the variable; False when there was none."""
        from runplane._runtime.variables import unset_value

        return unset_value(name)

    @classmethod
    async def aget(cls, name: str, default: Any = None) -> Any:
        """``get`` for a coroutine."""
        return await asyncio.to_thread(cls.get, name, default)

    @classmethod
    async def aset(
        cls, name: str, value: Any, *, tags: Sequence[str] = (), overwrite: bool = False
    ) -> Variable:
        """``set`` for a coroutine."""
        return await asyncio.to_thread(lambda: cls.set(name, value, tags=tags, overwrite=overwrite))

    @classmethod
    async def aunset(cls, name: str) -> bool:
        """``unset`` for a coroutine."""
        return await asyncio.to_thread(cls.unset, name)


class ConcurrencyLimit(Frozen):
    """A named limit on how many holders may run at once; ``tag:<tag>`` limits tagged tasks."""

    id: UUID
    name: str
    limit: int
    active_slots: int = 0
    create_time: AwareDatetime | None = None
    slot_decay_per_second: float = 0.0
    """Slots freed per second for a rate limit; 0: slots are freed when released."""


class ConcurrencyLease(Frozen):
    """The answer to a slot acquisition: a lease when granted, else a suggested retry delay."""

    granted: bool
    lease_id: UUID | None = None
    lease_expire_time: AwareDatetime | None = None
    retry_after: timedelta | None = None
