"""Records of flow runs, task runs and their states, as the repositories return them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class ReferenceMissing(Exception):
    """A row refers to another that does not exist (a foreign key failed)."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} does not exist")
        self.kind = kind
        self.key = key


@dataclass(frozen=True, slots=True)
class StateRecord:
    """One state; `result` and `details` are the JSON forms of ResultRef and StateDetails."""

    id: uuid.UUID
    type: int
    name: str
    timestamp: datetime
    message: str
    result: dict[str, Any] | None
    details: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer stored with the last applied proposal, to repeat it for a duplicate."""

    transition_id: str
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class RunTimesRecord:
    """The bookkeeping columns of a run row."""

    run_count: int
    start_time: datetime | None
    end_time: datetime | None
    total_run_time: float
    expected_start_time: datetime | None
    next_scheduled_start_time: datetime | None


@dataclass(frozen=True, slots=True)
class FlowRunRecord:
    id: uuid.UUID
    name: str
    flow_id: uuid.UUID
    flow_name: str
    deployment_id: uuid.UUID | None
    state: StateRecord | None
    parameters: dict[str, Any]
    tags: list[str]
    times: RunTimesRecord
    idempotency_key: str | None
    parent_task_run_id: uuid.UUID | None
    retries: int
    retry_delays: list[float]
    job_variables: dict[str, Any]
    work_pool_name: str | None
    work_queue_name: str | None
    flow_version: str | None
    attempt: int
    heartbeat_time: datetime | None
    create_time: datetime
    update_time: datetime
    runtime: str


@dataclass(frozen=True, slots=True)
class TaskRunRecord:
    id: uuid.UUID
    flow_run_id: uuid.UUID | None
    task_key: str
    dynamic_key: str
    name: str
    state: StateRecord | None
    cache_key: str | None
    cache_expiration: datetime | None
    task_version: str | None
    tags: list[str]
    times: RunTimesRecord
    retries: int
    retry_delays: list[float]
    inputs: dict[str, list[str]]
    create_time: datetime
    update_time: datetime
    background: bool = False
    parameters: dict[str, Any] | None = None
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class DeploymentGate:
    """A deployment's concurrency limit and what to do when it is full."""

    limit: int
    collision_strategy: int


@dataclass(frozen=True, slots=True)
class LockedRun:
    """What orchestrating one proposal needs of a run, read under its row lock."""

    id: uuid.UUID
    state: StateRecord | None
    last: Outcome | None
    times: RunTimesRecord
    retries: int
    retry_delays: list[float]
    deployment_id: uuid.UUID | None = None
    deployment_gate: DeploymentGate | None = None
    parent_task_run_id: uuid.UUID | None = None
    lease_id: uuid.UUID | None = None
    lease_expire_time: datetime | None = None
    flow_name: str = ""
    cache_key: str | None = None
    cache_expiration: datetime | None = None
    work_pool_name: str | None = None


@dataclass(frozen=True, slots=True)
class StateWrite:
    """A state to record and the run columns that follow from it."""

    state: StateRecord
    times: RunTimesRecord
    outcome: Outcome
    update_time: datetime
    clear_lease: bool = False


def state_from_row(mapping: Any, prefix: str = "state_") -> StateRecord | None:
    """The state held in a run row's denormalised columns (or a history row, prefix "")."""
    state_id = mapping[f"{prefix}id"]
    if state_id is None:
        return None
    return StateRecord(
        id=state_id,
        type=mapping[f"{prefix}type"],
        name=mapping[f"{prefix}name"],
        timestamp=mapping[f"{prefix}timestamp"],
        message=mapping[f"{prefix}message"],
        result=mapping[f"{prefix}result"],
        details=mapping[f"{prefix}details"],
    )


def times_from_row(mapping: Any) -> RunTimesRecord:
    return RunTimesRecord(
        run_count=mapping["run_count"],
        start_time=mapping["start_time"],
        end_time=mapping["end_time"],
        total_run_time=mapping["total_run_time"],
        expected_start_time=mapping["expected_start_time"],
        next_scheduled_start_time=mapping.get("next_scheduled_start_time"),
    )


def outcome_from_row(mapping: Any) -> Outcome | None:
    if mapping["last_transition_id"] is None:
        return None
    return Outcome(
        transition_id=mapping["last_transition_id"],
        status=mapping["last_status"] or 0,
        reason=mapping["last_reason"] or "",
    )


def state_columns(write: StateWrite) -> dict[str, Any]:
    """The run row's columns after `write`, keyed by column name."""
    state, times = write.state, write.times
    return {
        "state_id": state.id,
        "state_type": state.type,
        "state_name": state.name,
        "state_timestamp": state.timestamp,
        "state_message": state.message,
        "state_result": state.result,
        "state_details": state.details,
        "last_transition_id": write.outcome.transition_id or None,
        "last_status": write.outcome.status,
        "last_reason": write.outcome.reason,
        "run_count": times.run_count,
        "start_time": times.start_time,
        "end_time": times.end_time,
        "total_run_time": times.total_run_time,
        "expected_start_time": times.expected_start_time,
        "update_time": write.update_time,
    }


def history_columns(state: StateRecord) -> dict[str, Any]:
    """A state history row's columns, without the run's id."""
    return {
        "id": state.id,
        "type": state.type,
        "name": state.name,
        "timestamp": state.timestamp,
        "message": state.message,
        "result": state.result,
        "details": state.details,
    }


NO_TIMES = RunTimesRecord(
    run_count=0,
    start_time=None,
    end_time=None,
    total_run_time=0.0,
    expected_start_time=None,
    next_scheduled_start_time=None,
)
