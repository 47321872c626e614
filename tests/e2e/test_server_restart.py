"""Restarts under a connected runner, of the server or of its database: the run in flight
finishes once, and the runner takes the next run."""

from __future__ import annotations

from collections import Counter
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
from net_support import free_port
from postgres_support import drop_connections

from runplane import RunplaneClient, Settings, StateType
from runplane.server import ServerSettings, create_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


async def test_a_restart_loses_no_run_and_runs_none_twice(
    server_settings: ServerSettings, tmp_path: Path
) -> None:
    settings = server_settings.model_copy(update={"port": free_port()})
    log, release = tmp_path / "runs.txt", tmp_path / "release"
    first = await create_server(settings)
    await first.start()
    address = first.address
    try:
        async with RunplaneClient(Settings(api_url=address)) as client:
            held = await deploy(
                client, "hold", "restart", parameters={"path": str(log), "release": str(release)}
            )
            quick = await deploy(client, "count_run", "restart", parameters={"path": str(log)})
            assert held.id is not None
            assert quick.id is not None
            async with runner_process(address, tmp_path, "restart", "steady"):
                in_flight = await client.run_deployment(held.id)
                await wait_runs(client, [in_flight.id], is_in(StateType.RUNNING))
                await first_execution(log)
                await first.stop(grace=1.0)
                # The same address and database, as after a deploy of the server.
                second = await create_server(settings)
                await second.start()
                try:
                    release.touch()
                    after = await client.run_deployment(quick.id)
                    runs = await wait_runs(client, [in_flight.id, after.id], is_final, within=45)
                finally:
                    await second.stop(grace=1.0)
    finally:
        await first.stop(grace=0)
    states = {run_id: run.state.type for run_id, run in runs.items() if run.state}
    assert states == {in_flight.id: StateType.COMPLETED, after.id: StateType.COMPLETED}
    counts = Counter(line[0] for line in executions(log))
    assert counts == {str(in_flight.id): 1, str(after.id): 1}


async def test_a_database_restart_loses_no_run_and_runs_none_twice(
    server_settings: ServerSettings, private_database_url: str, tmp_path: Path
) -> None:
    if not private_database_url.startswith("postgresql"):
        pytest.skip("only a PostgreSQL server can drop the connections of a running server")
    settings = server_settings.model_copy(update={"database_url": private_database_url})
    log, release = tmp_path / "runs.txt", tmp_path / "release"
    async with (
        await create_server(settings) as server,
        RunplaneClient(Settings(api_url=server.address)) as client,
    ):
        held = await deploy(
            client, "hold", "db-restart", parameters={"path": str(log), "release": str(release)}
        )
        quick = await deploy(client, "count_run", "db-restart", parameters={"path": str(log)})
        assert held.id is not None
        assert quick.id is not None
        async with runner_process(server.address, tmp_path, "db-restart", "steady"):
            in_flight = await client.run_deployment(held.id)
            await wait_runs(client, [in_flight.id], is_in(StateType.RUNNING))
            await first_execution(log)
            assert drop_connections(private_database_url) >= 1
            release.touch()
            after = await client.run_deployment(quick.id)
            runs = await wait_runs(client, [in_flight.id, after.id], is_final, within=45)
    states = {run_id: run.state.type for run_id, run in runs.items() if run.state}
    assert states == {in_flight.id: StateType.COMPLETED, after.id: StateType.COMPLETED}
    counts = Counter(line[0] for line in executions(log))
    assert counts == {str(in_flight.id): 1, str(after.id): 1}
