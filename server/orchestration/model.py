"""The values the rules read and return: proposed states, run snapshots and decisions.

All datetimes are timezone-aware. Nothing here touches a database or the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from runplane.server.orchestration.states import OrchestrationStatus, StateType, default_state_name

CollisionStrategy = Literal["ENQUEUE", "CANCEL_NEW"]


@dataclass(frozen=True, slots=True)
class StateSpec:
    """A state as proposed or as to be written; an empty name means the default name."""

    type: StateType
    name: str = ""
    message: str = ""
    scheduled_time: datetime | None = None
    result_persisted: bool = False
    """The state carries a reference to a result in result storage."""
    retriable: bool | None = None
    transition_id: str = ""
    lease_id: str = ""
    pause_deadline: datetime | None = None
    cache_key: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            # Frozen dataclasses can only be completed through object.__setattr__.
            object.__setattr__(self, "name", default_state_name(self.type))


@dataclass(frozen=True, slots=True)
class ConcurrencyGate:
    """A deployment's concurrency limit as seen by one run.

    `active` counts the slots held by other runs; `enqueue_delay_seconds` is how far ahead an
    ENQUEUE-d run is rescheduled as AwaitingConcurrencySlot.
    """

    limit: int
    active: int
    strategy: CollisionStrategy = "ENQUEUE"
    enqueue_delay_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """What the rules need to know about a run, read by the caller under the run's row lock."""

    state: StateSpec | None = None
    current_transition_id: str = ""
    run_count: int = 0
    retries: int = 0
    retry_delays: tuple[float, ...] = ()
    assigned_lease_id: str = ""
    lease_expired: bool = False
    has_deployment: bool = False
    deployment_concurrency: ConcurrencyGate | None = None
    is_subflow: bool = False

    @property
    def state_type(self) -> StateType | None:
        return None if self.state is None else self.state.type


@dataclass(frozen=True, slots=True)
class Proposal:
    """A client's proposed state with the request's force flag, transition id and lease id."""

    state: StateSpec
    force: bool = False
    transition_id: str = ""
    lease_id: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to a proposal, and what the caller must do in the same transaction.

    `state` is the state to write: the proposal (maybe altered) on ACCEPT, the substitute on a
    REJECT that writes one, None when nothing is written. The flags are documented in the
    package docstring.
    """

    status: OrchestrationStatus
    state: StateSpec | None = None
    reason: str = ""
    wait_seconds: float = 0.0
    duplicate: bool = False
    take_concurrency_slot: bool = False
    release_concurrency_slots: bool = False
    clear_lease: bool = False
    rerun: bool = False

    @property
    def writes_state(self) -> bool:
        return self.state is not None

    @classmethod
    def accept(cls, state: StateSpec, reason: str = "") -> Decision:
        return cls(OrchestrationStatus.ACCEPT, state, reason)

    @classmethod
    def reject(cls, state: StateSpec | None, reason: str) -> Decision:
        return cls(OrchestrationStatus.REJECT, state, reason)

    @classmethod
    def wait(cls, seconds: float, reason: str) -> Decision:
        return cls(OrchestrationStatus.WAIT, None, reason, wait_seconds=seconds)

    @classmethod
    def abort(cls, reason: str) -> Decision:
        return cls(OrchestrationStatus.ABORT, None, reason)
