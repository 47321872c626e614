"""Scripts read ``runplane`` output: whole ids and states in tables off a terminal, JSON and
YAML of the models, runs filtered by deployment, tag and age, and flows listed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from cli_support import invoke

from runplane import Deployment, RunplaneClient, Settings, State, StateDetails, StateType
from runplane.server import RunplaneServer

pytestmark = pytest.mark.anyio


async def finished_run(client: RunplaneClient, flow_name: str, **fields: object) -> uuid.UUID:
    flow = await client.create_flow(flow_name)
    run = await client.create_flow_run(flow.id, name="parent-load-nightly", **fields)  # type: ignore[arg-type]
    await client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
    await client.set_flow_run_state(run.id, State(type=StateType.COMPLETED, message="done"))
    return run.id


async def test_ls_off_a_terminal_keeps_ids_and_states_whole_at_80_columns(
    server: RunplaneServer,
) -> None:
    flow_name = f"a-flow-with-a-long-name-{uuid.uuid4().hex}"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        run_id = await finished_run(client, flow_name)
    code, output = await invoke(server, "flow-run", "ls", "--flow", flow_name, columns=80)
    assert code == 0, output
    (line,) = [line for line in output.splitlines() if str(run_id) in line]
    assert line.split()[:4] == [str(run_id), "parent-load-nightly", flow_name, "Completed"]
    assert "…" not in output


async def test_ls_and_inspect_print_the_models_as_json_and_yaml(server: RunplaneServer) -> None:
    flow_name = f"json-{uuid.uuid4().hex[:8]}"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        run_id = await finished_run(client, flow_name)
        expected = (await client.get_flow_run(run_id)).model_dump(mode="json")

    code, output = await invoke(server, "flow-run", "ls", "--flow", flow_name, "-o", "json")
    assert code == 0, output
    assert json.loads(output) == [expected]

    code, output = await invoke(server, "flow-run", "ls", "--flow", flow_name, "--output", "yaml")
    assert code == 0, output
    assert yaml.safe_load(output) == [expected]

    code, output = await invoke(server, "flow-run", "inspect", str(run_id), "-o", "json")
    assert code == 0, output
    shown = json.loads(output)
    history = shown.pop("state_history")
    assert shown.pop("errors") == []  # a completed run has no error lines to show
    assert shown == expected
    assert [state["type"] for state in history] == ["PENDING", "RUNNING", "COMPLETED"]

    code, output = await invoke(server, "flow", "ls", "--prefix", flow_name, "-o", "json")
    assert code == 0, output
    assert [flow["name"] for flow in json.loads(output)] == [flow_name]


@pytest.mark.parametrize(
    "command",
    [
        ("flow", "ls"),
        ("flow-run", "ls"),
        ("deployment", "ls"),
        ("work-pool", "ls"),
        ("concurrency-limit", "ls"),
        ("variable", "ls"),
        ("artifact", "ls"),
    ],
)
async def test_every_ls_prints_json(server: RunplaneServer, command: tuple[str, ...]) -> None:
    code, output = await invoke(server, *command, "-o", "json")
    assert code == 0, output
    assert isinstance(json.loads(output), list)


async def test_wide_adds_columns(server: RunplaneServer) -> None:
    flow_name = f"wide-{uuid.uuid4().hex[:8]}"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        await finished_run(client, flow_name, tags=["nightly"])
    code, output = await invoke(server, "flow-run", "ls", "--flow", flow_name, "-o", "wide")
    assert code == 0, output
    header = output.splitlines()[0].split()
    assert header[:2] == ["ID", "Name"]
    assert "Tags" in header
    assert "Created" in header
    assert "nightly" in output


async def test_ls_filters_by_deployment_tag_and_age(server: RunplaneServer) -> None:
    flow_name = f"filters-{uuid.uuid4().hex[:8]}"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        flow = await client.create_flow(flow_name)
        deployment = await client.create_deployment(
            Deployment(name="nightly", flow_name=flow_name, entrypoint="etl.py:nightly")
        )
        assert deployment.id is not None
        of_deployment = await client.create_flow_run(
            flow.id, name="of-deployment", deployment_id=deployment.id
        )
        tagged = await client.create_flow_run(flow.id, name="tagged", tags=["etl", "daily"])
        old = await client.create_flow_run(
            flow.id,
            name="old",
            state=State(
                type=StateType.SCHEDULED,
                details=StateDetails(scheduled_time=datetime.now(UTC) - timedelta(days=3)),
            ),
        )

    async def listed(*options: str) -> set[str]:
        code, output = await invoke(server, "flow-run", "ls", "--flow", flow_name, *options)
        assert code == 0, output
        return {run["id"] for run in json.loads(output)}

    by_name = await listed("--deployment", f"{flow_name}/nightly", "-o", "json")
    assert by_name == {str(of_deployment.id)}
    by_prefix = await listed("--deployment", str(deployment.id)[:8], "-o", "json")
    assert by_prefix == {str(of_deployment.id)}
    assert await listed("--tag", "etl", "--tag", "daily", "-o", "json") == {str(tagged.id)}
    recent = await listed("--since", "1d", "-o", "json")
    assert str(old.id) not in recent
    assert {str(of_deployment.id), str(tagged.id)} <= recent


async def test_since_that_is_neither_a_time_nor_an_age_is_a_usage_error(
    server: RunplaneServer,
) -> None:
    code, output = await invoke(server, "flow-run", "ls", "--since", "yesterday")
    assert code == 2
    assert "--since" in output
