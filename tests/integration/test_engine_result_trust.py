"""The engine reads back persisted results only from storage it trusts.

Results it wrote under its home read back in another process with the same home; a
cached state that another client recorded with a reference to storage the engine does
not trust is a cache miss, and its pickle never runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import grpc
from engine_support import engine_api, task_runs
from result_support import plant_pickle

from runplane import StateType, SyncRunplaneClient, flow, task
from runplane.v1 import states_pb2, task_runs_pb2, task_runs_pb2_grpc

__all__ = ["engine_api"]

PERSISTING_FLOW = """
from runplane import flow

@flow(persist_result=True)
def numbers() -> frozenset[int]:
    return frozenset({1, 2, 3})
"""


def test_a_pickled_result_reads_back_in_another_process_with_the_same_home(
    engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    (tmp_path / "numbers.py").write_text(textwrap.dedent(PERSISTING_FLOW))
    run = engine_api.create_flow_run(engine_api.create_flow("numbers").id)
    env = dict(os.environ)  # RUNPLANE_HOME and RUNPLANE_API_URL of this process
    env["RUNPLANE_FLOW_RUN_ID"] = str(run.id)
    done = subprocess.run(
        [sys.executable, "-m", "runplane.engine", f"{tmp_path / 'numbers.py'}:numbers"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    state = engine_api.get_flow_run(run.id).state
    assert state is not None
    assert state.result_ref is not None
    assert state.result_ref.serializer == "cloudpickle"
    assert state.result() == frozenset({1, 2, 3})


def _record_cached_state(
    engine_api: SyncRunplaneClient, key: str, ref: states_pb2.ResultRef
) -> None:
    """Another client records a COMPLETED task run under ``key``, through a raw stub."""
    run = engine_api.create_flow_run(engine_api.create_flow(f"other-{key[:8]}").id)
    assert engine_api.settings.api_url is not None
    with grpc.insecure_channel(engine_api.settings.api_url) as channel:
        stub = task_runs_pb2_grpc.TaskRunServiceStub(channel)
        spec = task_runs_pb2.TaskRunSpec(flow_run_id=str(run.id), task_key="planted")
        created = stub.CreateTaskRun(task_runs_pb2.CreateTaskRunRequest(spec=spec)).task_run
        completed = states_pb2.State(
            type=states_pb2.STATE_TYPE_COMPLETED,
            result=ref,
            details=states_pb2.StateDetails(cache_key=key),
        )
        answer = stub.SetTaskRunState(
            task_runs_pb2.SetTaskRunStateRequest(
                task_run_id=created.id,
                state=completed,
                force=True,
                transition_id=str(uuid.uuid4()),
            )
        ).result
    assert answer.status == states_pb2.ORCHESTRATION_STATUS_ACCEPT, answer.reason
    assert engine_api.lookup_cached_state(key) is not None


def test_a_cached_result_in_untrusted_storage_is_a_miss_and_never_runs(
    engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    key = uuid.uuid4().hex
    marker = tmp_path / "pickle-ran"
    storage = plant_pickle(tmp_path / "evil", "cached", marker)
    ref = states_pb2.ResultRef(storage=storage, key="cached", serializer="cloudpickle")
    _record_cached_state(engine_api, key, ref)
    calls: list[int] = []
    ids: list[uuid.UUID] = []

    @task(cache_key_fn=lambda context, parameters: key)
    def compute() -> int:
        calls.append(1)
        return 42

    @flow
    def run() -> int:
        from runplane._runtime.context import flow_run_context

        context = flow_run_context.get()
        assert context is not None
        ids.append(context.flow_run_id)
        return compute()

    assert run() == 42
    assert calls == [1]
    assert not marker.exists()
    (step,) = task_runs(engine_api, ids[0])
    assert step.state is not None
    assert step.state.type is StateType.COMPLETED
    assert step.state.name == "Completed"
