"""States of flow runs and task runs, and the server's answers to state proposals."""

from __future__ import annotations

import enum
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class StateType(enum.StrEnum):
    """The kind of a state; every named state (Late, AwaitingRetry, ...) has one."""

    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


TERMINAL_STATE_TYPES = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}
)
SUSPENDED = "Suspended"
"""The name of the PAUSED state of a run that waits without a process to be run again."""


class Frozen(BaseModel):
    """Base of the SDK's models: immutable, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ResultRef(Frozen):
    """Where a run's result lives: in result storage, or inline when storage and key are empty."""

    storage: str = ""
    key: str = ""
    serializer: str = ""
    inline_value: Any = None

    @property
    def is_inline(self) -> bool:
        """Whether the result is carried in ``inline_value`` rather than in storage."""
        return not self.storage and not self.key


class StateDetails(Frozen):
    """Extra facts attached to a state."""

    scheduled_time: AwareDatetime | None = None
    cache_key: str | None = None
    cache_expiration: AwareDatetime | None = None
    retriable: bool = False
    transition_id: UUID | None = None
    lease_id: UUID | None = None
    pause_deadline: AwareDatetime | None = None
    child_flow_run_id: UUID | None = None
    upstream_task_run_id: UUID | None = None
    pause_input_schema_json: str | None = None
    """On a PAUSED state: the JSON Schema of the input the run waits for."""
    resume_input_json: str | None = None
    """On the RUNNING state that resumed a run paused for input: that input, as JSON."""


class State(Frozen):
    """One state of a flow run or task run; ``name`` defaults to the type in title case."""

    type: StateType
    name: str = ""
    message: str = ""
    id: UUID | None = None
    timestamp: AwareDatetime | None = None
    # Named ``result_ref`` so that ``result()`` can read the value; ``State(result=ref)``
    # still works through the alias.
    result_ref: ResultRef | None = Field(default=None, alias="result")
    details: StateDetails = StateDetails()

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("name") and data.get("type"):
            return {**data, "name": StateType(data["type"]).value.title()}
        return data

    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_cancelling(self) -> bool:
        return self.type is StateType.CANCELLING

    def is_paused(self) -> bool:
        return self.type is StateType.PAUSED

    def is_suspended(self) -> bool:
        """Paused without a process: resuming it schedules the run again."""
        return self.type is StateType.PAUSED and self.name == SUSPENDED

    def is_final(self) -> bool:
        """Whether the state is terminal: COMPLETED, FAILED, CANCELLED or CRASHED."""
        return self.type in TERMINAL_STATE_TYPES

    def result(self, raise_on_failure: bool = True) -> Any:
        """The run's value read back from result storage (see ``_runtime.results.load_result``).

        Raises the run's exception for a failed run (returns it with ``raise_on_failure=False``).
        """
        from runplane._runtime.results import load_result  # deferred: results imports this module

        return load_result(self, raise_on_failure=raise_on_failure)


class OrchestrationStatus(enum.StrEnum):
    """The outcome of a state proposal."""

    ACCEPT = "ACCEPT"
    """The proposed state (possibly altered by a rule) was written."""
    REJECT = "REJECT"
    """Another state was written, or the current one stands; adopt the returned state."""
    WAIT = "WAIT"
    """Nothing was written; propose again after ``wait_seconds``."""
    ABORT = "ABORT"
    """Nothing was written; stop this path."""


class OrchestrationResult(Frozen):
    """The server's answer to a state proposal, with the run's authoritative current state."""

    status: OrchestrationStatus
    state: State | None = None
    reason: str = ""
    wait_seconds: float = 0.0


class RetryPolicy(Frozen):
    """How a run retries: ``retries`` attempts, delays in seconds with the last one repeating."""

    retries: int = 0
    retry_delay_seconds: tuple[float, ...] = ()
