"""A run the runner holds: its assignment, its process, and why it is being stopped."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from uuid import UUID

import anyio

from runplane._client.models import FlowRun, RunAssignment, StateType
from runplane.runner._processes import RunProcess

# States in which the run still belongs to the process the runner started for it.
_HELD_STATES = frozenset(
    {StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.PAUSED}
)


class StopReason(enum.Enum):
    """Why the runner stops a run's process, which decides the state it reports after."""

    CANCEL = "cancel"  # the run is cancelled: report CANCELLED
    RESCHEDULE = "reschedule"  # the runner shuts down: give the run back as SCHEDULED
    SHUTDOWN = "shutdown"  # the runner shuts down after its grace period: report CRASHED
    FORGET = "forget"  # the server says the run is not ours: report nothing
    FINISHED = "finished"  # the run is final already: let its process exit, report nothing
    FENCED = "fenced"  # no heartbeat got through for too long: kill it, report CRASHED if ours


@dataclass
class HeldRun:
    assignment: RunAssignment
    process: RunProcess | None = None
    stop_reason: StopReason | None = None
    stop_requested: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)

    @property
    def flow_run_id(self) -> UUID:
        return self.assignment.flow_run.id

    def request_stop(self, reason: StopReason) -> bool:
        """Records the first reason only; True when this call asked for the stop."""
        if self.stop_reason is not None:
            return False
        self.stop_reason = reason
        self.stop_requested.set()
        return True

    def still_ours(self, run: FlowRun) -> bool:
        """Whether the stored run is still the one this runner was assigned, not finished
        and not handed to another runner since (a later attempt or another lease)."""
        state = run.state
        if state is None or run.attempt > self.assignment.attempt:
            return False
        lease = state.details.lease_id
        if lease is not None and lease != self.assignment.lease_id:
            return False
        if state.is_suspended():
            return False  # it waits without a process: whoever resumes it reschedules it
        if state.type in _HELD_STATES:
            return True
        # The engine may have reported CRASHED on the SIGTERM that carried a cancellation.
        return self.stop_reason is StopReason.CANCEL and state.type is StateType.CRASHED
