"""Retention through a real server: old logs and superseded states go, current states stay."""

from __future__ import annotations

import uuid

import grpc
import pytest
from delivery_support import ManualClock, propose, quiet, serving, unique

from runplane.server import ServerSettings
from runplane.server.loops.retention import Pruned, Retention
from runplane.v1 import (
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


@pytest.fixture
def settings(server_settings: ServerSettings, private_database_url: str) -> ServerSettings:
    """Retention deletes by age across the whole database: these tests have their own."""
    return quiet(server_settings, database_url=private_database_url)


T = states_pb2


class _Api:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.flows = flows_pb2_grpc.FlowServiceStub(channel)
        self.runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        self.tasks = task_runs_pb2_grpc.TaskRunServiceStub(channel)
        self.logs = logs_pb2_grpc.LogServiceStub(channel)

    async def finished_run(self, clock: ManualClock) -> tuple[str, str]:
        """A flow run and a task run of it, each taken through to COMPLETED, with a log line
        stamped now: ids of the flow run and the task run."""
        flow = await self.flows.CreateFlow(flows_pb2.CreateFlowRequest(name=unique("flow")))
        created = await self.runs.CreateFlowRun(
            flow_runs_pb2.CreateFlowRunRequest(flow_id=flow.flow.id)
        )
        run_id = created.flow_run.id
        running = await propose(self.channel, run_id, T.STATE_TYPE_RUNNING)
        assert running.status == T.ORCHESTRATION_STATUS_ACCEPT
        spec = task_runs_pb2.TaskRunSpec(flow_run_id=run_id, task_key=unique("task"))
        task = (
            await self.tasks.CreateTaskRun(task_runs_pb2.CreateTaskRunRequest(spec=spec))
        ).task_run
        for state_type in (T.STATE_TYPE_RUNNING, T.STATE_TYPE_COMPLETED):
            request = task_runs_pb2.SetTaskRunStateRequest(
                task_run_id=task.id,
                state=T.State(type=state_type),  # type: ignore[arg-type]
                transition_id=str(uuid.uuid4()),
            )
            await self.tasks.SetTaskRunState(request)
        await propose(self.channel, run_id, T.STATE_TYPE_COMPLETED)
        record = logs_pb2.LogRecord(
            flow_run_id=run_id, level=20, logger_name="test", message="hello"
        )
        record.timestamp.FromDatetime(clock.now())
        await self.logs.WriteLogs(logs_pb2.WriteLogsRequest(records=[record]))
        return run_id, task.id

    async def flow_states(self, run_id: str) -> list[str]:
        request = flow_runs_pb2.ListFlowRunStatesRequest(flow_run_id=run_id, page_size=200)
        return [s.name for s in (await self.runs.ListFlowRunStates(request)).states]

    async def task_states(self, task_run_id: str) -> list[str]:
        request = task_runs_pb2.ListTaskRunStatesRequest(task_run_id=task_run_id, page_size=200)
        return [s.name for s in (await self.tasks.ListTaskRunStates(request)).states]

    async def log_count(self, run_id: str) -> int:
        request = logs_pb2.ListLogsRequest(filter=logs_pb2.LogFilter(flow_run_id=run_id))
        return len((await self.logs.ListLogs(request)).records)


async def test_old_logs_and_superseded_states_are_deleted(settings: ServerSettings) -> None:
    clock = ManualClock()
    retained = settings.model_copy(update={"log_retention_days": 7, "state_retention_days": 30})
    async with serving(retained, clock) as (server, channel):
        api = _Api(channel)
        old_run, old_task = await api.finished_run(clock)
        clock.advance(10 * 86400)  # the old run's log is past its 7 days, its states are not
        recent_run, recent_task = await api.finished_run(clock)
        first = await server.context.background.retention.run_once()
        logs_after_first = (await api.log_count(old_run), await api.log_count(recent_run))
        clock.advance(25 * 86400)  # now the old run's states are past their 30 days too
        second = await server.context.background.retention.run_once()
        old_states = await api.flow_states(old_run), await api.task_states(old_task)
        recent_states = await api.flow_states(recent_run), await api.task_states(recent_task)
        old = await api.runs.GetFlowRun(flow_runs_pb2.GetFlowRunRequest(flow_run_id=old_run))
    assert (first.logs, first.flow_run_states, first.task_run_states) == (1, 0, 0)
    assert logs_after_first == (0, 1)
    # Pending and Running went; each run keeps its current state.
    assert (second.flow_run_states, second.task_run_states) == (2, 2)
    assert old_states == (["Completed"], ["Completed"])
    assert old.flow_run.state.name == "Completed"
    assert recent_states == (
        ["Pending", "Running", "Completed"],
        ["Pending", "Running", "Completed"],
    )


async def test_without_settings_nothing_is_deleted(settings: ServerSettings) -> None:
    clock = ManualClock()
    async with serving(settings, clock) as (server, channel):
        api = _Api(channel)
        run_id, _ = await api.finished_run(clock)
        clock.advance(10 * 365 * 86400)
        retention = server.context.background.retention
        pruned = await retention.run_once()
        assert not retention.enabled
        assert await api.log_count(run_id) == 1
        assert len(await api.flow_states(run_id)) == 3
    assert (pruned.logs, pruned.flow_run_states, pruned.task_run_states) == (0, 0, 0)


async def test_a_backlog_is_deleted_in_bounded_batches_over_passes(
    settings: ServerSettings,
) -> None:
    """Batches of 4 rows, 2 batches a pass: each pass deletes at most 8 rows of each kind, and
    passes go on through the old current states (which stay) to every superseded one."""
    clock = ManualClock()
    retained = settings.model_copy(update={"log_retention_days": 7, "state_retention_days": 30})
    async with serving(retained, clock) as (server, channel):
        api = _Api(channel)
        runs = [await api.finished_run(clock) for _ in range(12)]
        clock.advance(40 * 86400)
        retention = Retention(server.context.database, clock, retained, batch=4, max_batches=2)
        passes: list[Pruned] = []
        total = Pruned()
        while total != Pruned(logs=12, flow_run_states=24, task_run_states=24):
            assert len(passes) < 30, f"retention stopped short: {total}"
            passes.append(await retention.run_once())
            total = Pruned(*(sum(getattr(p, kind) for p in passes) for kind in Pruned.__slots__))
        states = [(await api.flow_states(f), await api.task_states(t)) for f, t in runs]
        logs = [await api.log_count(f) for f, _ in runs]
    assert len(passes) >= 3
    assert all(max(p.logs, p.flow_run_states, p.task_run_states) <= 8 for p in passes)
    assert states == [(["Completed"], ["Completed"])] * 12
    assert logs == [0] * 12
