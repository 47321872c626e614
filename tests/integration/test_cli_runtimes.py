"""``runplane deployment inspect`` and ``runplane flow-run inspect`` show the runtime that runs
a deployment's flow, against a real server."""

from __future__ import annotations

import uuid

import pytest
from cli_support import invoke

from runplane import Deployment, RunplaneClient, Settings
from runplane.server import RunplaneServer

pytestmark = pytest.mark.anyio


def _line(output: str, label: str) -> str:
    """The output line that starts with ``label``."""
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith(label)]
    assert lines, output
    return lines[0]


@pytest.mark.parametrize("runtime", ["node", None])
async def test_inspect_shows_the_runtime(server: RunplaneServer, runtime: str | None) -> None:
    flow_name = f"cli-{uuid.uuid4().hex[:8]}"
    given = {} if runtime is None else {"runtime": runtime}
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await client.create_deployment(
            Deployment(name="greet", flow_name=flow_name, entrypoint="flows.js:greet", **given)
        )
        assert deployment.id is not None
        run = await client.run_deployment(deployment.id)
    expected = runtime or "python"
    code, output = await invoke(server, "deployment", "inspect", f"{flow_name}/greet")
    assert code == 0, output
    assert _line(output, "runtime").split() == ["runtime", expected]
    code, output = await invoke(server, "flow-run", "inspect", str(run.id))
    assert code == 0, output
    assert _line(output, "Runtime").split() == ["Runtime", expected]
