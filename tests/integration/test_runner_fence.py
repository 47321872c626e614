"""A runner whose heartbeats stop getting through kills its runs before the server could
hand them to another runner."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest
from process_support import wait_exited

from runplane import RunplaneClient, Settings, StateType, Unavailable
from runplane.engine import load_flow
from runplane.runner import Runner
from runplane.server import RunplaneServer, ServerSettings, create_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

FLOW = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    from runplane import flow

    @flow
    def sleeper(path: str) -> None:
        Path(path).write_text(str(os.getpid()))
        time.sleep(120)
    """
)


async def _wait_for_file(path: Path, within: float) -> str:
    file = anyio.Path(path)
    with anyio.fail_after(within):
        while not await file.exists() or not await file.read_text():  # noqa: ASYNC110
            await anyio.sleep(0.05)
    return await file.read_text()


async def test_a_runner_that_cannot_heartbeat_kills_its_run_before_the_server_gives_it_away(
    server_settings: ServerSettings, tmp_path: Path
) -> None:
    # The server would crash the run after 6 s of silence; the runner must act after 4 s.
    settings = server_settings.model_copy(
        update={"heartbeat_timeout": 6.0, "heartbeat_reaper_interval": 0.2}
    )
    flows, marker = tmp_path / "fenced.py", tmp_path / "pid"
    flows.write_text(FLOW)
    async with await create_server(settings) as server:
        client_settings = Settings(api_url=server.address, home=tmp_path)
        runner = Runner(
            "fence", settings=client_settings, handle_signals=False, heartbeat_interval=0.2
        )
        async with RunplaneClient(client_settings) as client, anyio.create_task_group() as group:
            deployment = await _deploy(client, server, flows, marker)
            group.start_soon(runner.run)
            run = await client.run_deployment(deployment)
            pid = int(await _wait_for_file(marker, within=30))
            _cut_heartbeats(runner)
            await wait_exited(pid, within=15)
            final = await _final(client, run.id)
            runner.stop()
    assert final.type is StateType.CRASHED
    # Reported by the runner that fenced itself, not by the server's heartbeat reaper.
    assert "could not heartbeat" in final.message, final.message


async def _deploy(client: RunplaneClient, server: RunplaneServer, flows: Path, marker: Path) -> Any:
    entrypoint = f"{flows}:sleeper"
    deployment = load_flow(entrypoint).to_deployment(
        "fenced",
        entrypoint=entrypoint,
        work_pool_name="fence",
        parameters={"path": str(marker)},
        enforce_parameter_schema=False,
    )
    applied = await deployment.apply(client)
    assert applied.id is not None
    return applied.id


def _cut_heartbeats(runner: Runner) -> None:
    """From now on, every heartbeat of the runner fails as in a network partition."""

    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise Unavailable("the network is partitioned")

    runner._api().heartbeat = unreachable  # type: ignore[method-assign]


async def _final(client: RunplaneClient, run_id: Any) -> Any:
    with anyio.fail_after(30):
        while True:
            state = (await client.get_flow_run(run_id)).state
            if state is not None and state.is_final():
                return state
            await anyio.sleep(0.1)
