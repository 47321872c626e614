"""A finished run's result read back later by another process, by the run's id alone:
``client.get_flow_run(id).state.result()``, as ``flow_run.state.result()`` in Prefect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine_support import any_engine_api, tagged_runs, task_runs

from runplane import SyncRunplaneClient, flow, tags, task
from runplane.filesystems import LocalFileSystem

__all__ = ["any_engine_api"]

READER = """
import json, sys, uuid
from runplane import get_client
from runplane._runtime.results import UntrustedResult

flow_run_id, shared_id, private_id = (uuid.UUID(arg) for arg in sys.argv[1:])
read = {}
with get_client(sync_client=True) as client:
    read["flow"] = client.get_flow_run(flow_run_id).state.result()
    read["shared"] = client.get_task_run(shared_id).state.result()
    try:
        client.get_task_run(private_id).state.result()
    except UntrustedResult as error:
        read["private"] = f"UntrustedResult: {error}"
print(json.dumps(read))
"""


def test_another_process_reads_task_and_flow_results_by_run_id(
    any_engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    shared = LocalFileSystem(basepath=tmp_path / "shared")
    private = LocalFileSystem(basepath=tmp_path / "private")

    @task(result_storage=shared, task_run_name="shared")
    def produce(n: int) -> list[int]:
        return list(range(n))

    @task(result_storage=private, task_run_name="private")
    def secret() -> str:
        return "not for others"

    @flow(persist_result=True)
    def producing(n: int) -> dict[str, list[int]]:
        secret()
        return {"numbers": produce(n)}

    with tags("read-elsewhere"):
        assert producing(3) == {"numbers": [0, 1, 2]}
    (run,) = tagged_runs(any_engine_api, "read-elsewhere")
    ids = {task_run.name: task_run.id for task_run in task_runs(any_engine_api, run.id)}
    # The same home (whose results folder holds the flow's result) and API as this process;
    # of the tasks' storages, it trusts only the one listed.
    env = dict(os.environ, RUNPLANE_RESULTS_TRUSTED_STORAGE=shared.name)
    done = subprocess.run(
        [sys.executable, "-c", READER, str(run.id), str(ids["shared"]), str(ids["private"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout.splitlines()[-1])
    assert read["flow"] == {"numbers": [0, 1, 2]}
    assert read["shared"] == [0, 1, 2]
    assert read["private"].startswith(f"UntrustedResult: result storage {private.name!r}")
    assert "RUNPLANE_RESULTS_TRUSTED_STORAGE" in read["private"]
