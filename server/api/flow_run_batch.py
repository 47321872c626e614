"""CreateFlowRun and SetFlowRunState applied many at a time, in one transaction.

A batch decides its new runs (reading the names of flows it has not seen before), then
orchestrates its proposals: one SELECT ... FOR UPDATE of every run proposed to, the decisions
in Python with the same rules as one request alone. Then one write, a single statement on
PostgreSQL, inserts the new runs with their first states and records the new states with
their run rows. The batcher never puts two proposals for one run in a batch, so each proposal
is decided against its run as committed.

A proposal that needs its deployment's slot count (PENDING under a concurrency limit) is left
to be applied alone: counting slots for two runs of one deployment inside one batch would
count neither run's new state.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime

from runplane.server.api.batching import ALONE, BatchOutcome
from runplane.server.api.errors import failed_precondition, not_found
from runplane.server.api.flow_run_messages import flow_run_message
from runplane.server.api.states import result_message, resume_input_refused
from runplane.server.clock import Clock
from runplane.server.db import flow_run_batch, flow_runs
from runplane.server.db.engine import Database
from runplane.server.db.flow_runs import Connection, NewFlowRun
from runplane.server.db.run_records import LockedRun, StateWrite
from runplane.server.hub import Hub
from runplane.server.transitions.events import FlowRunEvent
from runplane.server.transitions.flow_runs import (
    InitialStateRefused,
    ResumeInputRefused,
    Transition,
    decide,
    duplicate_result,
    first_write,
    needs_gate,
)
from runplane.server.transitions.stored_states import ProposedState
from runplane.v1 import flow_runs_pb2

Answer = flow_runs_pb2.CreateFlowRunResponse | flow_runs_pb2.SetFlowRunStateResponse


@dataclass(frozen=True, slots=True)
class NewRun:
    """A validated CreateFlowRun whose run id the server chose and that needs no lookup."""

    run: NewFlowRun
    proposed: ProposedState


FlowRunWrite = NewRun | Transition


def write_key(work: FlowRunWrite) -> Hashable | None:
    """Proposals for one run go one batch after the other; new runs never clash."""
    return work.run_id if isinstance(work, Transition) else None


def default_name(run: NewFlowRun, flow_name: str) -> NewFlowRun:
    if run.name:
        return run
    return dataclasses.replace(run, name=f"{flow_name[:240]}-{uuid.uuid4().hex[:6]}")


# Flows whose names a batch remembers: a flow's name never changes, so a create needs no
# read of it once known. A flow deleted since makes the batch's INSERT fail on its foreign
# key; the batch then forgets every name and its requests are applied alone, which answer
# NOT_FOUND for that flow.
MAX_KNOWN_FLOWS = 10_000


class FlowRunBatch:
    """The `run_batch` of the flow-run write batcher."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        events: Hub[FlowRunEvent],
        on_slots_freed: Callable[[], None],
    ) -> None:
        self._db = database
        self._clock = clock
        self._events = events
        self._on_slots_freed = on_slots_freed
        self._flow_names: dict[uuid.UUID, str] = {}

    async def __call__(self, works: Sequence[FlowRunWrite]) -> list[BatchOutcome[Answer]]:
        try:
            return await self._apply(works)
        except BaseException:
            self._flow_names.clear()
            raise

    async def _apply(self, works: Sequence[FlowRunWrite]) -> list[BatchOutcome[Answer]]:
        outcomes: list[BatchOutcome[Answer]] = [ALONE] * len(works)
        events: list[FlowRunEvent] = []
        now = self._clock.now()
        written: list[uuid.UUID] = []
        with self._events.writing() as audience:
            async with self._db.write() as conn:
                new_runs = [(i, w) for i, w in enumerate(works) if isinstance(w, NewRun)]
                rows = await self._create(conn, new_runs, now, outcomes, events)
                proposals = [(i, w) for i, w in enumerate(works) if isinstance(w, Transition)]
                writes, freed = await self._propose(conn, proposals, now, outcomes)
                await flow_run_batch.create_and_write(conn, rows, writes)
                if audience.events and writes:
                    records = await flow_run_batch.get_many(conn, (run.id for run, _ in writes))
                    events.extend(FlowRunEvent(records[run.id], w.state) for run, w in writes)
                elif audience.ids:
                    written.extend(write.state.id for _, write in writes)
        for event in events:
            self._events.publish(event)
        self._events.relay_written(written)
        if freed:
            self._on_slots_freed()
        return outcomes

    async def _names(self, conn: Connection, flow_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The names of the flows among ``flow_ids`` that exist (or existed when read)."""
        known = self._flow_names
        missing = flow_ids.difference(known)
        if missing:
            if len(known) + len(missing) > MAX_KNOWN_FLOWS:
                known.clear()
            known.update(await flow_run_batch.flow_names(conn, missing))
        return known

    async def _create(
        self,
        conn: Connection,
        new_runs: list[tuple[int, NewRun]],
        now: datetime,
        outcomes: list[BatchOutcome[Answer]],
        events: list[FlowRunEvent],
    ) -> list[tuple[NewFlowRun, StateWrite]]:
        """Decides the new runs; the rows to insert."""
        rows: list[tuple[NewFlowRun, StateWrite]] = []
        if not new_runs:
            return rows
        names = await self._names(conn, {w.run.flow_id for _, w in new_runs})
        for index, work in new_runs:
            flow_name = names.get(work.run.flow_id)
            if flow_name is None:
                outcomes[index] = not_found("flow", work.run.flow_id)
                continue
            run = default_name(work.run, flow_name)
            try:
                write = first_write(work.proposed, None, False, now)
            except InitialStateRefused as error:
                outcomes[index] = failed_precondition("INITIAL_STATE_REFUSED", error.reason)
                continue
            record = flow_runs.created_record(run, write, flow_name)
            rows.append((run, write))
            events.append(FlowRunEvent(record, write.state))
            message = flow_run_message(record)
            outcomes[index] = flow_runs_pb2.CreateFlowRunResponse(flow_run=message, created=True)
        return rows

    async def _propose(
        self,
        conn: Connection,
        proposals: list[tuple[int, Transition]],
        now: datetime,
        outcomes: list[BatchOutcome[Answer]],
    ) -> tuple[list[tuple[LockedRun, StateWrite]], bool]:
        """Decides the proposals under their runs' locks; the states to write, and whether
        any of them frees slots (see ``Decided``)."""
        writes: list[tuple[LockedRun, StateWrite]] = []
        if not proposals:
            return writes, False
        locked = await flow_run_batch.lock_many(conn, (t.run_id for _, t in proposals))
        freed = False
        for index, transition in proposals:
            run = locked.get(transition.run_id)
            if run is None:
                outcomes[index] = not_found("flow run", transition.run_id)
                continue
            result = duplicate_result(run, transition)
            if result is None:
                if needs_gate(run, transition):
                    continue  # stays ALONE
                try:
                    result, write, frees_slots = decide(run, transition, now, None)
                except ResumeInputRefused as error:
                    outcomes[index] = resume_input_refused(error)
                    continue
                if write is not None:
                    writes.append((run, write))
                    freed |= frees_slots
            outcomes[index] = flow_runs_pb2.SetFlowRunStateResponse(result=result_message(result))
        return writes, freed
