"""What flow runs and task runs share when a state is written: snapshots and bookkeeping."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from runplane.server.db.run_records import (
    Outcome,
    RunTimesRecord,
    StateRecord,
    StateWrite,
)
from runplane.server.orchestration import (
    ConcurrencyGate,
    OrchestrationStatus,
    RunSnapshot,
    RunTimes,
    StateSpec,
    StateType,
    bookkeeping,
)
from runplane.server.transitions.stored_states import (
    ProposedState,
    spec_from_record,
    stored_state,
)


class LockedColumns(Protocol):
    """What deciding a proposal reads of a locked run: a client's (``LockedRun``) or one of
    the server's own loops (``HeldRun``)."""

    @property
    def state(self) -> StateRecord | None: ...
    @property
    def last(self) -> Outcome | None: ...
    @property
    def times(self) -> RunTimesRecord: ...
    @property
    def retries(self) -> int: ...
    @property
    def retry_delays(self) -> list[float]: ...
    @property
    def lease_id(self) -> uuid.UUID | None: ...
    @property
    def lease_expire_time(self) -> datetime | None: ...
    @property
    def deployment_id(self) -> uuid.UUID | None: ...
    @property
    def parent_task_run_id(self) -> uuid.UUID | None: ...


def snapshot(
    locked: LockedColumns, now: datetime, gate: ConcurrencyGate | None = None
) -> RunSnapshot:
    """The run as the rules see it."""
    lease_expired = locked.lease_expire_time is not None and locked.lease_expire_time <= now
    return RunSnapshot(
        state=spec_from_record(locked.state) if locked.state is not None else None,
        current_transition_id=locked.last.transition_id if locked.last else "",
        run_count=locked.times.run_count,
        retries=locked.retries,
        retry_delays=tuple(locked.retry_delays),
        assigned_lease_id=str(locked.lease_id) if locked.lease_id else "",
        lease_expired=lease_expired,
        has_deployment=locked.deployment_id is not None,
        deployment_concurrency=gate,
        is_subflow=locked.parent_task_run_id is not None,
    )


def run_times(times: RunTimesRecord, state: StateRecord | None) -> RunTimes:
    return RunTimes(
        state_type=StateType(state.type) if state is not None else None,
        state_timestamp=state.timestamp if state is not None else None,
        start_time=times.start_time,
        end_time=times.end_time,
        total_run_time=times.total_run_time,
        run_count=times.run_count,
        expected_start_time=times.expected_start_time,
        next_scheduled_start_time=times.next_scheduled_start_time,
    )


def state_write(
    written: StateSpec,
    proposed: ProposedState | None,
    before: tuple[RunTimesRecord, StateRecord | None],
    outcome: Outcome,
    now: datetime,
    *,
    clear_lease: bool = False,
) -> StateWrite:
    """The state to record on a run whose columns are `before`, with the bookkeeping."""
    update = bookkeeping(run_times(*before), written, now)
    return StateWrite(
        state=stored_state(written, proposed, update.state_timestamp),
        times=RunTimesRecord(
            run_count=update.run_count,
            start_time=update.start_time,
            end_time=update.end_time,
            total_run_time=update.total_run_time,
            expected_start_time=update.expected_start_time,
            next_scheduled_start_time=update.next_scheduled_start_time,
        ),
        outcome=outcome,
        update_time=now,
        clear_lease=clear_lease,
    )


def outcome(transition_id: str, status: OrchestrationStatus, reason: str) -> Outcome:
    return Outcome(transition_id=transition_id, status=int(status), reason=reason)
