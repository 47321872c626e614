"""TaskRunService: task runs, their states (orchestrated or reported), and the result cache."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from typing import Any

import grpc

from runplane.server.api.errors import (
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
)
from runplane.server.api.flow_runs import parse_uuid_text
from runplane.server.api.pagination import cut_page, decode_token, filter_fingerprint
from runplane.server.api.states import (
    decision_result,
    orchestration_result,
    parse_state,
    state_message,
)
from runplane.server.api.task_reports import apply, parse_updates
from runplane.server.api.task_run_messages import parse_filter, parse_spec, task_run_message
from runplane.server.api.task_workers import TaskWorkerMethods
from runplane.server.api.validation import page_size, parse_uuid, require_name
from runplane.server.clock import Clock
from runplane.server.db import task_leases, task_runs
from runplane.server.db.engine import Database
from runplane.server.db.flow_runs import Connection
from runplane.server.db.run_records import NO_TIMES, ReferenceMissing, TaskRunRecord
from runplane.server.delivery.task_workers import TaskWorkerDelivery
from runplane.server.orchestration import (
    MAX_CACHE_KEY_LENGTH,
    Proposal,
    RunSnapshot,
    StateSpec,
    StateType,
    decide_task_run,
)
from runplane.server.settings import ServerSettings
from runplane.server.transitions.state_writes import outcome, state_write
from runplane.server.transitions.stored_states import ProposedState
from runplane.server.transitions.task_runs import cache_entry, propose
from runplane.v1 import states_pb2, task_runs_pb2, task_runs_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


def _key(name: str, token: list[Any] | None) -> tuple[datetime, uuid.UUID] | None:
    if token is None:
        return None
    try:
        return datetime.fromisoformat(str(token[0])), uuid.UUID(str(token[1]))
    except (ValueError, IndexError):
        raise invalid_argument(name, "is not a token returned by this server") from None


class TaskRunServicer(TaskWorkerMethods, task_runs_pb2_grpc.TaskRunServiceServicer):
    def __init__(
        self,
        database: Database,
        clock: Clock,
        settings: ServerSettings,
        delivery: TaskWorkerDelivery,
    ) -> None:
        self._db = database
        self._clock = clock
        self._settings = settings
        self._delivery = delivery

    async def CreateTaskRun(
        self, request: task_runs_pb2.CreateTaskRunRequest, context: Context
    ) -> task_runs_pb2.CreateTaskRunResponse:
        if not request.HasField("spec"):
            raise invalid_argument("spec", "is required")
        run = parse_spec("spec", request.spec)
        proposed = ProposedState(StateSpec(StateType.PENDING))
        if request.HasField("state"):
            proposed = parse_state("state", request.state)
            if proposed.spec.type not in (StateType.SCHEDULED, StateType.PENDING):
                raise invalid_argument("state.type", "a new task run starts SCHEDULED or PENDING")
        if run.background and proposed.spec.type is not StateType.SCHEDULED:
            raise invalid_argument("state.type", "a background task run starts SCHEDULED")
        if run.background:
            return await self._create_background(run, proposed)
        try:
            async with self._db.write() as conn:
                record, created = await self._create(conn, run, proposed)
        except ReferenceMissing as error:
            raise not_found(error.kind, error.key) from None
        return task_runs_pb2.CreateTaskRunResponse(
            task_run=task_run_message(record), created=created
        )

    async def _create_background(
        self, run: task_runs.NewTaskRun, proposed: ProposedState
    ) -> task_runs_pb2.CreateTaskRunResponse:
        """Creates a background run and, when a task worker of this process has a free slot,
        claims it for that worker in the same transaction, so that it is on its way to the
        worker the moment the commit returns."""
        delivery = self._delivery
        # Creates of runs that no worker here serves need not wait for the claims' lock.
        served = delivery.serves(run.task_key)
        async with delivery.claiming if served else contextlib.nullcontext():
            async with self._db.write() as conn:
                record, created = await self._create(conn, run, proposed)
                claim = None
                if created and served:
                    claim = await delivery.claim_created(conn, run.id, run.task_key)
            if claim is not None:
                await delivery.hand_over(claim[0], [claim[1]])
                record = claim[1].run
        if created and claim is None:
            # Another worker of this process, or of another server process, may take it.
            delivery.changed([run.id])
            delivery.notify()
        return task_runs_pb2.CreateTaskRunResponse(
            task_run=task_run_message(record), created=created
        )

    async def _create(
        self, conn: Connection, run: task_runs.NewTaskRun, proposed: ProposedState
    ) -> tuple[TaskRunRecord, bool]:
        existing = await task_runs.get_by_key(conn, run.flow_run_id, run.task_key, run.dynamic_key)
        if existing is not None:
            return existing, False
        now = self._clock.now()
        decision = decide_task_run(RunSnapshot(), Proposal(proposed.spec), now)
        if decision.state is None:
            raise failed_precondition("INITIAL_STATE_REFUSED", decision.reason)
        if not await task_runs.insert(conn, run, now):
            found = await task_runs.get_by_key(conn, run.flow_run_id, run.task_key, run.dynamic_key)
            if found is not None:
                return found, False
            raise already_exists("task run", run.id)
        locked = await task_runs.lock(conn, run.id)
        assert locked is not None  # inserted above, in this transaction
        result = outcome("", decision.status, decision.reason)
        write = state_write(decision.state, proposed, (NO_TIMES, None), result, now)
        await task_runs.write_state(conn, locked, write, cache_entry(decision.state, proposed))
        record = await task_runs.get(conn, run.id)
        assert record is not None
        return record, True

    async def GetTaskRun(
        self, request: task_runs_pb2.GetTaskRunRequest, context: Context
    ) -> task_runs_pb2.GetTaskRunResponse:
        run_id = parse_uuid("task_run_id", request.task_run_id)
        async with self._db.read() as conn:
            record = await task_runs.get(conn, run_id)
        if record is None:
            raise not_found("task run", run_id)
        return task_runs_pb2.GetTaskRunResponse(task_run=task_run_message(record))

    async def ListTaskRuns(
        self, request: task_runs_pb2.ListTaskRunsRequest, context: Context
    ) -> task_runs_pb2.ListTaskRunsResponse:
        limit = page_size("page_size", request.page_size)
        query = parse_filter("filter", request.filter)
        fingerprint = filter_fingerprint(request.filter)
        after = _key("page_token", decode_token("page_token", request.page_token, fingerprint))
        async with self._db.read() as conn:
            records = await task_runs.list_page(conn, query, after=after, limit=limit + 1)
        records, next_token = cut_page(
            records, limit, fingerprint, lambda last: [last.create_time.isoformat(), str(last.id)]
        )
        return task_runs_pb2.ListTaskRunsResponse(
            task_runs=[task_run_message(r) for r in records], next_page_token=next_token
        )

    async def SetTaskRunState(
        self, request: task_runs_pb2.SetTaskRunStateRequest, context: Context
    ) -> task_runs_pb2.SetTaskRunStateResponse:
        run_id = parse_uuid("task_run_id", request.task_run_id)
        if not request.HasField("state"):
            raise invalid_argument("state", "is required")
        proposed = parse_state("state", request.state)
        transition_id = parse_uuid_text("transition_id", request.transition_id)
        lease_id = parse_uuid_text("lease_id", request.lease_id)
        async with self._db.write() as conn:
            result, written, freed = await self._set_state(
                conn, run_id, proposed, request.force, transition_id, lease_id
            )
        if written:  # a repeated or refused proposal changed nothing to tell of
            self._delivery.changed([run_id])
        if freed:
            self._delivery.notify()
        return task_runs_pb2.SetTaskRunStateResponse(result=result)

    async def _set_state(
        self,
        conn: Connection,
        run_id: uuid.UUID,
        proposed: ProposedState,
        force: bool,
        transition_id: str,
        lease_id: str,
    ) -> tuple[states_pb2.OrchestrationResult, bool, bool]:
        """The answer, whether a state was written, and whether a task worker's slot was
        freed."""
        locked = await task_runs.lock(conn, run_id)
        if locked is None:
            raise not_found("task run", run_id)
        last = locked.last
        if transition_id and last is not None and last.transition_id == transition_id:
            return orchestration_result(last.status, locked.state, last.reason), False, False
        now = self._clock.now()
        result = await propose(
            conn,
            locked,
            proposed,
            now,
            force=force,
            transition_id=transition_id,
            lease_id=lease_id,
        )
        freed = (
            result.written
            and locked.lease_id is not None
            and result.state is not None
            and StateType(result.state.type) not in task_leases.HELD_TYPES
        )
        return decision_result(result.decision, result.state), result.written, freed

    async def ListTaskRunStates(
        self, request: task_runs_pb2.ListTaskRunStatesRequest, context: Context
    ) -> task_runs_pb2.ListTaskRunStatesResponse:
        run_id = parse_uuid("task_run_id", request.task_run_id)
        limit = page_size("page_size", request.page_size)
        fingerprint = filter_fingerprint(str(run_id))
        token = decode_token("page_token", request.page_token, fingerprint)
        after = None
        if token is not None:
            try:
                after = datetime.fromisoformat(str(token[0]))
            except (ValueError, IndexError):
                raise invalid_argument("page_token", "is not a token of this server") from None
        async with self._db.read() as conn:
            if not await task_runs.exists(conn, run_id):
                raise not_found("task run", run_id)
            records = await task_runs.list_states(conn, run_id, after=after, limit=limit + 1)
        records, next_token = cut_page(
            records, limit, fingerprint, lambda last: [last.timestamp.isoformat()]
        )
        return task_runs_pb2.ListTaskRunStatesResponse(
            states=[state_message(r) for r in records], next_page_token=next_token
        )

    async def ReportTaskRuns(
        self, request: task_runs_pb2.ReportTaskRunsRequest, context: Context
    ) -> task_runs_pb2.ReportTaskRunsResponse:
        flow_run_id = parse_uuid("flow_run_id", request.flow_run_id)
        updates = parse_updates(flow_run_id, request.updates)
        try:
            async with self._db.write() as conn:
                highest = await apply(conn, flow_run_id, updates, self._clock.now())
        except ReferenceMissing as error:
            raise not_found(error.kind, error.key) from None
        return task_runs_pb2.ReportTaskRunsResponse(acknowledged_through=highest)

    async def LookupCachedState(
        self, request: task_runs_pb2.LookupCachedStateRequest, context: Context
    ) -> task_runs_pb2.LookupCachedStateResponse:
        cache_key = require_name("cache_key", request.cache_key, MAX_CACHE_KEY_LENGTH)
        async with self._db.read() as conn:
            found = await task_runs.lookup_cached(conn, cache_key, self._clock.now())
        if found is None:
            return task_runs_pb2.LookupCachedStateResponse(found=False)
        run_id, state = found
        return task_runs_pb2.LookupCachedStateResponse(
            found=True, state=state_message(state), task_run_id=str(run_id)
        )
