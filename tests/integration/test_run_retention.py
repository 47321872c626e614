"""Run retention through a real server: runs that ended before the cutoff go with every row of
theirs; runs still going, or ended since, stay with all of theirs."""

from __future__ import annotations

import uuid
from collections.abc import Collection

import anyio
import grpc
import pytest
import sqlalchemy as sa
from delivery_support import ManualClock, propose, quiet, serving, unique

from runplane.server import ServerSettings
from runplane.server.db.engine import Database
from runplane.server.db.tables import flow_run, metadata, task_run
from runplane.server.loops.retention import Pruned, Retention
from runplane.v1 import (
    artifacts_pb2,
    artifacts_pb2_grpc,
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2,
    flows_pb2_grpc,
    logs_pb2,
    logs_pb2_grpc,
    states_pb2,
    task_runs_pb2,
    task_runs_pb2_grpc,
)

pytestmark = pytest.mark.anyio

T = states_pb2
DAY = 86400.0
# Every table holding rows of a run: the run tables by id, the others by their run columns.
CHILD_TABLES = {
    "flow_run",
    "flow_run_state",
    "flow_run_tag",
    "task_run",
    "task_run_state",
    "log",
    "log_batch",
    "task_log_batch",
    "artifact",
}


@pytest.fixture
def settings(server_settings: ServerSettings, private_database_url: str) -> ServerSettings:
    """Retention deletes by age across the whole database: these tests have their own."""
    retained = {"run_retention_days": 30.0}
    return quiet(server_settings, database_url=private_database_url, **retained)


class _Api:
    def __init__(self, channel: grpc.aio.Channel, clock: ManualClock) -> None:
        self.channel = channel
        self.clock = clock
        self.flows = flows_pb2_grpc.FlowServiceStub(channel)
        self.runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        self.tasks = task_runs_pb2_grpc.TaskRunServiceStub(channel)
        self.logs = logs_pb2_grpc.LogServiceStub(channel)
        self.artifacts = artifacts_pb2_grpc.ArtifactServiceStub(channel)

    async def flow_run(self, *, parent_task_run_id: str = "") -> str:
        flow = await self.flows.CreateFlow(flows_pb2.CreateFlowRequest(name=unique("flow")))
        request = flow_runs_pb2.CreateFlowRunRequest(
            flow_id=flow.flow.id, tags=["nightly", "etl"], parent_task_run_id=parent_task_run_id
        )
        return (await self.runs.CreateFlowRun(request)).flow_run.id

    async def finished_flow_run(self, **kwargs: str) -> str:
        run_id = await self.flow_run(**kwargs)
        for state_type in (T.STATE_TYPE_RUNNING, T.STATE_TYPE_COMPLETED):
            assert (await propose(self.channel, run_id, state_type)).status == (
                T.ORCHESTRATION_STATUS_ACCEPT
            )
        return run_id

    async def task_run(self, flow_run_id: str = "") -> str:
        """A task run taken through to COMPLETED, in the flow run or of its own."""
        spec = task_runs_pb2.TaskRunSpec(flow_run_id=flow_run_id, task_key=unique("task"))
        request = task_runs_pb2.CreateTaskRunRequest(spec=spec)
        task_id = (await self.tasks.CreateTaskRun(request)).task_run.id
        for state_type in (T.STATE_TYPE_RUNNING, T.STATE_TYPE_COMPLETED):
            proposal = task_runs_pb2.SetTaskRunStateRequest(
                task_run_id=task_id,
                state=T.State(type=state_type),  # type: ignore[arg-type]
                transition_id=str(uuid.uuid4()),
            )
            await self.tasks.SetTaskRunState(proposal)
        return task_id

    async def cancelled_background_run(self) -> str:
        """A background run (Task.delay) cancelled before any task worker took it."""
        spec = task_runs_pb2.TaskRunSpec(
            task_key=unique("task"), background=True, parameters_json="{}"
        )
        request = task_runs_pb2.CreateTaskRunRequest(
            spec=spec, state=T.State(type=T.STATE_TYPE_SCHEDULED)
        )
        task_id = (await self.tasks.CreateTaskRun(request)).task_run.id
        proposal = task_runs_pb2.SetTaskRunStateRequest(
            task_run_id=task_id,
            state=T.State(type=T.STATE_TYPE_CANCELLED),
            transition_id=str(uuid.uuid4()),
        )
        answer = await self.tasks.SetTaskRunState(proposal)
        assert answer.result.status == T.ORCHESTRATION_STATUS_ACCEPT, answer.result
        return task_id

    async def write_log_and_artifact(self, flow_run_id: str, task_run_id: str) -> None:
        """A log line in a batch with an id, and an artifact, of the task run (and flow run)."""
        record = logs_pb2.LogRecord(
            flow_run_id=flow_run_id,
            task_run_id=task_run_id,
            level=20,
            logger_name="test",
            message="hello",
        )
        record.timestamp.FromDatetime(self.clock.now())
        batch = logs_pb2.WriteLogsRequest(records=[record], batch_id=str(uuid.uuid4()))
        await self.logs.WriteLogs(batch)
        artifact = artifacts_pb2.CreateArtifactRequest(
            type=artifacts_pb2.ARTIFACT_TYPE_MARKDOWN,
            data="# done",
            flow_run_id=flow_run_id,
            task_run_id=task_run_id,
        )
        await self.artifacts.CreateArtifact(artifact)

    async def full_flow_run(self) -> tuple[str, str]:
        """A COMPLETED flow run with a task run, a log line, an artifact and tags: its id and
        its task run's."""
        run_id = await self.flow_run()
        await propose(self.channel, run_id, T.STATE_TYPE_RUNNING)
        task_id = await self.task_run(run_id)
        await self.write_log_and_artifact(run_id, task_id)
        await propose(self.channel, run_id, T.STATE_TYPE_COMPLETED)
        return run_id, task_id

    async def full_own_task_run(self) -> str:
        task_id = await self.task_run()
        await self.write_log_and_artifact("", task_id)
        return task_id

    async def flow_run_code(self, run_id: str) -> grpc.StatusCode:
        try:
            await self.runs.GetFlowRun(flow_runs_pb2.GetFlowRunRequest(flow_run_id=run_id))
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    async def task_run_code(self, task_run_id: str) -> grpc.StatusCode:
        try:
            await self.tasks.GetTaskRun(task_runs_pb2.GetTaskRunRequest(task_run_id=task_run_id))
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK


async def _rows(
    database: Database, flow_run_ids: Collection[str], task_run_ids: Collection[str]
) -> dict[str, int]:
    """Per table, the rows that belong to these runs (a flow run's task runs included)."""
    flows = [uuid.UUID(i) for i in flow_run_ids]
    tasks = [uuid.UUID(i) for i in task_run_ids]
    counts: dict[str, int] = {}
    async with database.read() as conn:
        tasks += (
            await conn.execute(sa.select(task_run.c.id).where(task_run.c.flow_run_id.in_(flows)))
        ).scalars()
        for table in metadata.sorted_tables:
            mine: list[sa.ColumnElement[bool]] = []
            if table is flow_run:
                mine.append(table.c.id.in_(flows))
            if table is task_run:
                mine.append(table.c.id.in_(tasks))
            if "flow_run_id" in table.c:
                mine.append(table.c.flow_run_id.in_(flows))
            if "task_run_id" in table.c:
                mine.append(table.c.task_run_id.in_(tasks))
            if mine:
                count = sa.select(sa.func.count()).select_from(table).where(sa.or_(*mine))
                counts[table.name] = (await conn.execute(count)).scalar_one()
    return counts


async def test_runs_that_ended_before_the_cutoff_go_with_every_row_of_theirs(
    settings: ServerSettings,
) -> None:
    clock = ManualClock()
    async with serving(settings, clock) as (server, channel):
        api = _Api(channel, clock)
        old_run, old_task = await api.full_flow_run()
        old_subflow = await api.finished_flow_run(parent_task_run_id=old_task)
        old_own_task = await api.full_own_task_run()
        old_background = await api.cancelled_background_run()
        gone = {old_run, old_subflow}, {old_own_task, old_background}
        before = await _rows(server.context.database, *gone)
        clock.advance(40 * DAY)
        pruned = await server.context.background.retention.run_once()
        after = await _rows(server.context.database, *gone)
        codes = [await api.flow_run_code(r) for r in (old_run, old_subflow)]
        codes += [await api.task_run_code(t) for t in (old_task, old_own_task, old_background)]
    assert (pruned.flow_runs, pruned.task_runs) == (2, 2)
    # Every kind of row was there, and none is left.
    assert {table for table, count in before.items() if count} == CHILD_TABLES
    assert after == dict.fromkeys(before, 0)
    assert codes == [grpc.StatusCode.NOT_FOUND] * 5


async def test_runs_not_ended_or_ended_since_the_cutoff_stay_whole(
    settings: ServerSettings,
) -> None:
    """An old run still going stays, and so does its subflow run of a deleted parent; a run
    that ended within the retention period stays, and so does a retried old one."""
    clock = ManualClock()
    async with serving(settings, clock) as (server, channel):
        api = _Api(channel, clock)
        parent, parent_task = await api.full_flow_run()
        running_subflow = await api.flow_run(parent_task_run_id=parent_task)
        await propose(channel, running_subflow, T.STATE_TYPE_RUNNING)
        old_running = await api.flow_run()
        await propose(channel, old_running, T.STATE_TYPE_RUNNING)
        retried, _ = await api.full_flow_run()
        clock.advance(40 * DAY)
        await propose(channel, retried, T.STATE_TYPE_SCHEDULED, name="AwaitingRetry")
        recent, recent_task = await api.full_flow_run()
        recent_own_task = await api.full_own_task_run()
        kept = {running_subflow, old_running, retried, recent}, {recent_task, recent_own_task}
        before = await _rows(server.context.database, *kept)
        pruned = await server.context.background.retention.run_once()
        after = await _rows(server.context.database, *kept)
        subflow = await api.runs.GetFlowRun(
            flow_runs_pb2.GetFlowRunRequest(flow_run_id=running_subflow)
        )
        parent_code = await api.flow_run_code(parent)
    assert (pruned.flow_runs, pruned.task_runs) == (1, 0)
    assert parent_code == grpc.StatusCode.NOT_FOUND
    assert after == before
    assert {table for table, count in before.items() if count} == CHILD_TABLES
    assert subflow.flow_run.parent_task_run_id == parent_task


async def test_a_backlog_of_runs_goes_in_bounded_batches_over_passes(
    settings: ServerSettings,
) -> None:
    """Batches of 3 runs, 2 batches a pass: each pass deletes at most 6 of each kind."""
    clock = ManualClock()
    async with serving(settings, clock) as (server, channel):
        api = _Api(channel, clock)
        flows = [await api.finished_flow_run() for _ in range(14)]
        tasks = [await api.task_run() for _ in range(4)]
        clock.advance(40 * DAY)
        retention = Retention(server.context.database, clock, settings, run_batch=3, max_batches=2)
        passes: list[Pruned] = []
        while sum(p.flow_runs for p in passes) < 14 or sum(p.task_runs for p in passes) < 4:
            assert len(passes) < 10, f"retention stopped short: {passes}"
            passes.append(await retention.run_once())
        left = await _rows(server.context.database, flows, tasks)
    assert [(p.flow_runs, p.task_runs) for p in passes] == [(6, 4), (6, 0), (2, 0)]
    assert left == dict.fromkeys(left, 0)


async def test_runs_written_while_retention_deletes_are_kept(settings: ServerSettings) -> None:
    """New runs go through their states while a backlog is deleted batch by batch, and old
    finished runs are retried meanwhile: every new run stays with its whole history, and each
    retry either finds its run deleted (NOT_FOUND) or keeps it, retried."""
    clock = ManualClock()
    async with serving(settings, clock) as (server, channel):
        api = _Api(channel, clock)
        backlog = [await api.finished_flow_run() for _ in range(30)]
        clock.advance(40 * DAY)
        retention = Retention(server.context.database, clock, settings, run_batch=2, max_batches=1)
        written: list[str] = []
        retries: dict[str, grpc.StatusCode] = {}

        async def delete_backlog() -> None:
            while (await retention.run_once()).flow_runs:
                await anyio.lowlevel.checkpoint()

        async def write_new_runs() -> None:
            for _ in range(10):
                written.append(await api.finished_flow_run())

        async def retry_old_runs() -> None:
            for run_id in backlog[::3]:
                try:
                    result = await propose(
                        channel, run_id, T.STATE_TYPE_SCHEDULED, name="AwaitingRetry"
                    )
                    assert result.status == T.ORCHESTRATION_STATUS_ACCEPT
                    retries[run_id] = grpc.StatusCode.OK
                except grpc.aio.AioRpcError as error:
                    retries[run_id] = error.code()

        async with anyio.create_task_group() as group:
            group.start_soon(delete_backlog)
            group.start_soon(write_new_runs)
            group.start_soon(retry_old_runs)
        histories = [
            await api.runs.ListFlowRunStates(
                flow_runs_pb2.ListFlowRunStatesRequest(flow_run_id=r, page_size=10)
            )
            for r in written
        ]
        codes = {r: await api.flow_run_code(r) for r in backlog}
    assert [[s.name for s in h.states] for h in histories] == [
        ["Pending", "Running", "Completed"]
    ] * 10
    assert set(retries.values()) <= {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND}
    for run_id, code in codes.items():
        # A retried run stays; every other one of the backlog is gone.
        assert code == retries.get(run_id, grpc.StatusCode.NOT_FOUND), run_id
