"""Two servers on one database: a background run created through one reaches a task worker
subscribed to the other at once, and a watch on the first sees the worker's states.

The sweep is off: on PostgreSQL the servers NOTIFY each other of task-run changes; on SQLite
each polls ``data_version`` while it has a task worker or a watch.
"""

from __future__ import annotations

import json

import grpc
import pytest
from delivery_support import next_item, quiet, unique

from runplane.server import ServerSettings, create_server
from runplane.v1 import states_pb2, task_runs_pb2, task_runs_pb2_grpc

pytestmark = pytest.mark.anyio

COMPLETED = states_pb2.STATE_TYPE_COMPLETED


async def test_a_run_created_through_one_server_is_pushed_to_a_worker_of_the_other(
    server_settings: ServerSettings,
) -> None:
    settings = quiet(server_settings)
    key = unique("tasks.elsewhere")
    async with (
        await create_server(settings) as first,
        await create_server(settings) as second,
        grpc.aio.insecure_channel(first.address) as on_first,
        grpc.aio.insecure_channel(second.address) as on_second,
    ):
        caller = task_runs_pb2_grpc.TaskRunServiceStub(on_first)
        worker = task_runs_pb2_grpc.TaskRunServiceStub(on_second)
        stream = worker.SubscribeTaskRuns(
            task_runs_pb2.SubscribeTaskRunsRequest(
                task_keys=[key], worker_name=unique("worker"), free_slots=1
            )
        )
        await stream.read()
        spec = task_runs_pb2.TaskRunSpec(
            task_key=key, background=True, parameters_json=json.dumps({"n": 1})
        )
        created = await caller.CreateTaskRun(
            task_runs_pb2.CreateTaskRunRequest(
                spec=spec, state=states_pb2.State(type=states_pb2.STATE_TYPE_SCHEDULED)
            )
        )
        run_id = created.task_run.id
        watch = caller.WatchTaskRun(task_runs_pb2.WatchTaskRunRequest(task_run_id=run_id))
        assignment = (await next_item(stream, within=10)).assignment
        assert assignment.task_run.id == run_id
        for state_type in (states_pb2.STATE_TYPE_RUNNING, COMPLETED):
            answer = await worker.SetTaskRunState(
                task_runs_pb2.SetTaskRunStateRequest(
                    task_run_id=run_id,
                    state=states_pb2.State(type=state_type),
                    lease_id=assignment.lease_id,
                )
            )
            assert answer.result.status == states_pb2.ORCHESTRATION_STATUS_ACCEPT
        seen = [item.task_run.state.type async for item in watch]
        assert seen[-1] == COMPLETED
        stream.cancel()
