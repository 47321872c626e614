"""A run's process never outlives its runner, so a run never executes twice at the same time."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import (
    deploy,
    executions,
    first_execution,
    is_final,
    is_in,
    runner_process,
    wait_runs,
)
from process_support import wait_exited

from runplane import RunplaneClient, Settings, StateType
from runplane.server import RunplaneServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


def _intervals(lines: list[list[str]]) -> dict[str, tuple[float, float]]:
    """Each executing process's first and last recorded time."""
    spans: dict[str, tuple[float, float]] = {}
    for line in lines:
        pid, at = line[2], float(line[4])
        low, high = spans.get(pid, (at, at))
        spans[pid] = (min(low, at), max(high, at))
    return spans


async def test_a_run_dies_with_its_killed_runner_and_never_runs_twice_at_once(
    server: RunplaneServer, tmp_path: Path
) -> None:
    log = tmp_path / "ticks.txt"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await deploy(client, "tick", "orphans", parameters={"path": str(log)})
        assert deployment.id is not None
        async with runner_process(server.address, tmp_path, "orphans", "doomed") as doomed:
            run = await client.run_deployment(deployment.id)
            await wait_runs(client, [run.id], is_in(StateType.RUNNING))
            orphan = int((await first_execution(log))[2])
            doomed.kill()  # the runner alone: its run's process is in a session of its own
            await doomed.wait()
            await wait_exited(orphan, within=10)
        async with runner_process(server.address, tmp_path, "orphans", "survivor"):
            runs = await wait_runs(client, [run.id], is_final, within=30)
    final = runs[run.id].state
    assert final is not None
    assert final.type is StateType.COMPLETED, final
    spans = sorted(_intervals(executions(log)).values())
    assert len(spans) == 2, spans
    (_, first_end), (second_start, _) = spans
    assert first_end < second_start, f"two executions overlapped: {spans}"
