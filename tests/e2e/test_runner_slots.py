"""A runner's limit, held by the server's count of its slots, with real runner processes."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest
from e2e_support import deploy, executions, is_final, runner_process, wait_runs

from runplane import RunplaneClient, Settings, StateType
from runplane.server import RunplaneServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

LIMIT = 4


def most_at_once(lines: list[list[str]]) -> dict[str, int]:
    """For each runner, the most flow bodies that were running at one time."""
    events: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for _, runner, _, kind, at in lines:
        # At one instant an end comes before a start: the bodies did not overlap.
        events[runner].append((float(at), 1 if kind == "start" else -1))
    most: dict[str, int] = {}
    for runner, changes in events.items():
        running = 0
        for _, change in sorted(changes):
            running += change
            most[runner] = max(most.get(runner, 0), running)
    return most


async def test_two_runners_never_run_more_than_their_limit_and_give_nothing_back(
    server: RunplaneServer, tmp_path: Path
) -> None:
    log = tmp_path / "runs.txt"
    parameters = {"path": str(log), "seconds": 0.05}
    run_ids = []
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await deploy(client, "timed_run", "slots", parameters=parameters)
        assert deployment.id is not None
        async with (
            runner_process(server.address, tmp_path, "slots", "r1", limit=LIMIT),
            runner_process(server.address, tmp_path, "slots", "r2", limit=LIMIT),
        ):
            for _ in range(3):
                burst = [(await client.run_deployment(deployment.id)).id for _ in range(30)]
                runs = await wait_runs(client, burst, is_final, within=60)
                run_ids += burst
                assert {r.state.type for r in runs.values() if r.state} == {StateType.COMPLETED}
        histories = {
            run_id: [state.type for state in (await client.list_flow_run_states(run_id)).items]
            for run_id in run_ids
        }
    lines = executions(log)
    starts = Counter(line[0] for line in lines if line[3] == "start")
    assert starts == Counter(str(run_id) for run_id in run_ids)  # each run executed once
    assert set(most_at_once(lines)) == {"r1", "r2"}
    assert max(most_at_once(lines).values()) <= LIMIT
    # Nothing was given back (released or rescheduled): one claim, one PENDING, per run.
    given_back = [i for i, types in histories.items() if types.count(StateType.PENDING) != 1]
    assert given_back == []
