"""FlowRunService: flow runs, their orchestrated states, and watching them change."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

import grpc

from runplane.server.api.batching import WriteBatcher
from runplane.server.api.deployment_requests import run_parameters
from runplane.server.api.errors import (
    ApiError,
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
)
from runplane.server.api.flow_run_batch import (
    Answer,
    FlowRunBatch,
    FlowRunWrite,
    NewRun,
    default_name,
    write_key,
)
from runplane.server.api.flow_run_messages import (
    flow_run_message,
    matches,
    parse_filter,
    retry_policy,
)
from runplane.server.api.pagination import (
    cut_page,
    decode_token,
    filter_fingerprint,
    time_and_id_after,
    time_and_id_key,
)
from runplane.server.api.states import (
    parse_state,
    result_message,
    resume_input_refused,
    state_message,
)
from runplane.server.api.validation import (
    MAX_OBJECT_JSON_BYTES,
    check_label,
    check_tags,
    json_object,
    optional_name,
    page_size,
    parse_optional_uuid,
    parse_uuid,
)
from runplane.server.api.watch_order import StateOrder
from runplane.server.clock import Clock
from runplane.server.db import deployments, flow_run_lists, flow_runs
from runplane.server.db.engine import Database
from runplane.server.db.flow_runs import Connection
from runplane.server.db.run_records import FlowRunRecord, ReferenceMissing
from runplane.server.hub import Hub, SubscriberOverflow
from runplane.server.orchestration import ConcurrencyGate, StateSpec, StateType
from runplane.server.transitions.deployment_slots import count_slots
from runplane.server.transitions.events import FlowRunEvent
from runplane.server.transitions.flow_runs import (
    InitialStateRefused,
    ResumeInputRefused,
    RunMissing,
    Transition,
    first_write,
    set_state,
)
from runplane.server.transitions.stored_states import ProposedState
from runplane.v1 import flow_runs_pb2, flow_runs_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]

MAX_KEY_LENGTH = 512
MAX_CURRENT_RUNS = 1000
_INITIAL_TYPES = (StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING)
# One worker: a second one makes smaller batches and more transactions, and measured more
# CPU per run for the same throughput, since the event loop, not the commit, is the limit.
WRITE_WORKERS = 1
MAX_WRITE_BATCH = 256


def parse_uuid_text(name: str, value: str) -> str:
    """An optional UUID, in its canonical text form ("" when unset)."""
    parsed = parse_optional_uuid(name, value)
    return str(parsed) if parsed else ""


def _bounded_text(name: str, value: str, max_length: int = 256) -> str | None:
    return check_label(name, value, max_length) or None


def _initial_state(request: flow_runs_pb2.CreateFlowRunRequest) -> ProposedState:
    if not request.HasField("state"):
        return ProposedState(StateSpec(StateType.PENDING))
    proposed = parse_state("state", request.state)
    if proposed.spec.type not in _INITIAL_TYPES:
        raise invalid_argument(
            "state.type", "a new run starts SCHEDULED, PENDING or, without a deployment, RUNNING"
        )
    return proposed


def _new_run(request: flow_runs_pb2.CreateFlowRunRequest, now: datetime) -> flow_runs.NewFlowRun:
    retries, delays = retry_policy("retry_policy", request.retry_policy)
    return flow_runs.NewFlowRun(
        id=parse_optional_uuid("flow_run_id", request.flow_run_id) or uuid.uuid4(),
        flow_id=parse_uuid("flow_id", request.flow_id),
        name=optional_name("name", request.name) or "",
        deployment_id=parse_optional_uuid("deployment_id", request.deployment_id),
        parameters=json_object("parameters_json", request.parameters_json, MAX_OBJECT_JSON_BYTES),
        tags=check_tags("tags", request.tags),
        idempotency_key=_bounded_text("idempotency_key", request.idempotency_key, MAX_KEY_LENGTH),
        parent_task_run_id=parse_optional_uuid("parent_task_run_id", request.parent_task_run_id),
        retries=retries,
        retry_delays=delays,
        job_variables=json_object(
            "job_variables_json", request.job_variables_json, MAX_OBJECT_JSON_BYTES
        ),
        work_pool_name=optional_name("work_pool_name", request.work_pool_name),
        work_queue_name=optional_name("work_queue_name", request.work_queue_name),
        flow_version=_bounded_text("flow_version", request.flow_version),
        heartbeat_time=now if request.expect_heartbeats else None,
    )


class WorkNotifier(Protocol):
    """Tells the work stream that runs may be due or must be stopped."""

    def notify_work(self, pool: str | None = None) -> None: ...

    def notify_cancelling(self, run_id: uuid.UUID) -> None: ...

    def notify_slots_freed(self) -> None: ...

    def notify_run_state(
        self, run_id: uuid.UUID, state_type: int | None, state_name: str
    ) -> None: ...


class FlowRunServicer(flow_runs_pb2_grpc.FlowRunServiceServicer):
    def __init__(
        self,
        database: Database,
        clock: Clock,
        events: Hub[FlowRunEvent],
        closers: list[Callable[[], Awaitable[None]]] | None = None,
        work: WorkNotifier | None = None,
    ) -> None:
        self._db = database
        self._work = work
        self._clock = clock
        self._events = events
        self._writes: WriteBatcher[FlowRunWrite, Answer] = WriteBatcher(
            FlowRunBatch(database, clock, events, self._slots_freed),
            self._write_alone,
            key=write_key,
            workers=WRITE_WORKERS,
            max_batch=MAX_WRITE_BATCH,
        )
        if closers is not None:
            closers.append(self._writes.close)

    async def CreateFlowRun(
        self, request: flow_runs_pb2.CreateFlowRunRequest, context: Context
    ) -> flow_runs_pb2.CreateFlowRunResponse:
        run = _new_run(request, self._clock.now())
        proposed = _initial_state(request)
        if _batchable(request, run):
            answer = await self._writes.submit(NewRun(run, proposed))
            assert isinstance(answer, flow_runs_pb2.CreateFlowRunResponse)
        else:
            answer = await self._create_alone(NewRun(run, proposed))
        created = answer.flow_run
        due_later = int(created.state.type) == StateType.SCHEDULED
        if self._work is not None and created.work_pool_name and due_later:
            self._work.notify_work(created.work_pool_name)
        return answer

    async def _create_alone(self, work: NewRun) -> flow_runs_pb2.CreateFlowRunResponse:
        try:
            async with self._db.write() as conn:
                record, event = await self._create(conn, work.run, work.proposed)
        except ReferenceMissing as error:
            raise not_found(error.kind, error.key) from None
        except InitialStateRefused as error:
            raise failed_precondition("INITIAL_STATE_REFUSED", error.reason) from None
        if event is not None:
            self._events.publish(event)
        return flow_runs_pb2.CreateFlowRunResponse(
            flow_run=flow_run_message(record), created=event is not None
        )

    async def _create(
        self, conn: Connection, run: flow_runs.NewFlowRun, proposed: ProposedState
    ) -> tuple[FlowRunRecord, FlowRunEvent | None]:
        flow_name = await flow_runs.flow_name(conn, run.flow_id)
        if flow_name is None:
            raise not_found("flow", run.flow_id)
        if run.idempotency_key is not None:
            existing = await flow_runs.get_by_idempotency_key(
                conn, run.flow_id, run.idempotency_key
            )
            if existing is not None:
                return existing, None
        run = default_name(run, flow_name)
        now = self._clock.now()
        gate = await self._creation_gate(conn, run, proposed.spec.type)
        if run.deployment_id is not None:
            run = await _with_deployment(conn, run, run.deployment_id)
        write = first_write(proposed, gate, run.deployment_id is not None, now)
        if not await flow_runs.insert(conn, run, write):
            if run.idempotency_key is not None:
                existing = await flow_runs.get_by_idempotency_key(
                    conn, run.flow_id, run.idempotency_key
                )
                if existing is not None:
                    return existing, None
            raise already_exists("flow run", run.id)
        record = flow_runs.created_record(run, write, flow_name)
        return record, FlowRunEvent(record, write.state)

    async def _creation_gate(
        self, conn: Connection, run: flow_runs.NewFlowRun, initial: StateType
    ) -> ConcurrencyGate | None:
        if run.deployment_id is None:
            return None
        exists, gate = await flow_runs.deployment_gate(conn, run.deployment_id)
        if not exists:
            raise not_found("deployment", run.deployment_id)
        if gate is None or initial is not StateType.PENDING:
            return None
        return await count_slots(conn, run.deployment_id, run.id, gate)

    async def GetFlowRun(
        self, request: flow_runs_pb2.GetFlowRunRequest, context: Context
    ) -> flow_runs_pb2.GetFlowRunResponse:
        run_id = parse_uuid("flow_run_id", request.flow_run_id)
        async with self._db.read() as conn:
            record = await flow_runs.get(conn, run_id)
        if record is None:
            raise not_found("flow run", run_id)
        return flow_runs_pb2.GetFlowRunResponse(flow_run=flow_run_message(record))

    async def ListFlowRuns(
        self, request: flow_runs_pb2.ListFlowRunsRequest, context: Context
    ) -> flow_runs_pb2.ListFlowRunsResponse:
        limit = page_size("page_size", request.page_size)
        query = parse_filter("filter", request.filter)
        fingerprint = filter_fingerprint(request.filter)
        before = time_and_id_after("page_token", request.page_token, fingerprint)
        async with self._db.read() as conn:
            records = await flow_run_lists.list_page(conn, query, before=before, limit=limit + 1)
        records, next_token = cut_page(
            records, limit, fingerprint, lambda last: time_and_id_key(last.create_time, last.id)
        )
        return flow_runs_pb2.ListFlowRunsResponse(
            flow_runs=[flow_run_message(r) for r in records], next_page_token=next_token
        )

    async def DeleteFlowRun(
        self, request: flow_runs_pb2.DeleteFlowRunRequest, context: Context
    ) -> flow_runs_pb2.DeleteFlowRunResponse:
        run_id = parse_uuid("flow_run_id", request.flow_run_id)
        async with self._db.write() as conn:
            if not await flow_runs.delete(conn, run_id):
                raise not_found("flow run", run_id)
        if self._work is not None:
            # A deleted run holds no slot of the runner it was handed to.
            self._work.notify_run_state(run_id, None, "")
        return flow_runs_pb2.DeleteFlowRunResponse()

    async def SetFlowRunState(
        self, request: flow_runs_pb2.SetFlowRunStateRequest, context: Context
    ) -> flow_runs_pb2.SetFlowRunStateResponse:
        run_id = parse_uuid("flow_run_id", request.flow_run_id)
        if not request.HasField("state"):
            raise invalid_argument("state", "is required")
        transition = Transition(
            run_id=run_id,
            proposed=parse_state("state", request.state),
            force=request.force,
            transition_id=parse_uuid_text("transition_id", request.transition_id),
            lease_id=parse_uuid_text("lease_id", request.lease_id),
        )
        answer = await self._writes.submit(transition)
        assert isinstance(answer, flow_runs_pb2.SetFlowRunStateResponse)
        if self._work is not None:
            # After the commit: a run due again is claimed, a cancelled one is told to its runner.
            current = int(answer.result.state.type)
            # A run final, SCHEDULED again or Suspended frees a slot of the runner it was
            # handed to.
            self._work.notify_run_state(run_id, current, answer.result.state.name)
            if current == StateType.CANCELLING:
                self._work.notify_cancelling(run_id)
            elif current == StateType.SCHEDULED:
                self._work.notify_work(None)
        return answer

    def _slots_freed(self) -> None:
        """A committed state took a run out of PENDING, RUNNING or CANCELLING."""
        if self._work is not None:
            self._work.notify_slots_freed()

    async def _set_alone(self, transition: Transition) -> flow_runs_pb2.SetFlowRunStateResponse:
        try:
            with self._events.writing() as audience:
                async with self._db.write() as conn:
                    now = self._clock.now()
                    applied = await set_state(conn, transition, now, watched=audience.events)
        except RunMissing as error:
            raise not_found("flow run", error.run_id) from None
        except ResumeInputRefused as error:
            raise resume_input_refused(error) from None
        if applied.event is not None:
            self._events.publish(applied.event)
        elif audience.ids and applied.written is not None:
            self._events.relay_written([applied.written])
        if applied.freed_slots:
            self._slots_freed()
        return flow_runs_pb2.SetFlowRunStateResponse(result=result_message(applied.result))

    async def _write_alone(self, work: FlowRunWrite) -> Answer:
        if isinstance(work, NewRun):
            return await self._create_alone(work)
        return await self._set_alone(work)

    async def ListFlowRunStates(
        self, request: flow_runs_pb2.ListFlowRunStatesRequest, context: Context
    ) -> flow_runs_pb2.ListFlowRunStatesResponse:
        run_id = parse_uuid("flow_run_id", request.flow_run_id)
        limit = page_size("page_size", request.page_size)
        fingerprint = filter_fingerprint(str(run_id))
        token = decode_token("page_token", request.page_token, fingerprint)
        after = _state_key(token)
        async with self._db.read() as conn:
            if not await flow_runs.exists(conn, run_id):
                raise not_found("flow run", run_id)
            records = await flow_runs.list_states(conn, run_id, after=after, limit=limit + 1)
        records, next_token = cut_page(
            records, limit, fingerprint, lambda last: [last.timestamp.isoformat()]
        )
        return flow_runs_pb2.ListFlowRunStatesResponse(
            states=[state_message(r) for r in records], next_page_token=next_token
        )

    async def WatchFlowRuns(
        self, request: flow_runs_pb2.WatchFlowRunsRequest, context: Context
    ) -> AsyncIterator[flow_runs_pb2.WatchFlowRunsResponse]:
        query = parse_filter("filter", request.filter)
        # Subscribe before reading, so that no change falls between the read and the stream.
        subscription = self._events.subscribe()
        order = StateOrder()
        try:
            await self._events.caught_up()
            if request.include_current:
                async with self._db.read() as conn:
                    current = await flow_run_lists.list_page(
                        conn, query, before=None, limit=MAX_CURRENT_RUNS
                    )
                for record in current:
                    if record.state is not None and order.admit(record.id, record.state):
                        yield _watched(record, record.state)
            async for event in subscription:
                if matches(query, event.run) and order.admit(event.run.id, event.state):
                    yield _watched(event.run, event.state)
        except SubscriberOverflow:
            raise ApiError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "the watch fell behind the changes and was closed; watch again",
                reason="WATCH_OVERFLOW",
            ) from None
        finally:
            subscription.close()


def _watched(record: FlowRunRecord, state: Any) -> flow_runs_pb2.WatchFlowRunsResponse:
    return flow_runs_pb2.WatchFlowRunsResponse(
        flow_run=flow_run_message(record), state=state_message(state)
    )


def _state_key(token: list[Any] | None) -> datetime | None:
    if token is None:
        return None
    try:
        return datetime.fromisoformat(str(token[0]))
    except (ValueError, IndexError):
        raise invalid_argument("page_token", "is not a token returned by this server") from None


async def _with_deployment(
    conn: Connection, run: flow_runs.NewFlowRun, deployment_id: uuid.UUID
) -> flow_runs.NewFlowRun:
    """The run with its deployment's runtime, and its default parameters under the run's own,
    checked against the deployment's parameter schema as RunDeployment checks them."""
    deployment = await deployments.get(conn, deployment_id, hold=True)
    if deployment is None:
        raise not_found("deployment", deployment_id)
    parameters = run_parameters(deployment, run.parameters)
    return replace(run, parameters=parameters, runtime=deployment.runtime)


def _batchable(request: flow_runs_pb2.CreateFlowRunRequest, run: flow_runs.NewFlowRun) -> bool:
    """Whether the run can be created in a batch: nothing to look up or to clash with."""
    return not (
        request.flow_run_id
        or run.idempotency_key is not None
        or run.deployment_id is not None
        or run.parent_task_run_id is not None
    )
