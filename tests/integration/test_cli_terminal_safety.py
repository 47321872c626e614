"""Text from the server cannot drive the terminal: control sequences in logs, artifacts,
state messages and names are printed as visible escapes; JSON escapes them as JSON does."""

from __future__ import annotations

import json
import uuid

import pytest
from cli_support import invoke

from runplane import ArtifactType, LogRecord, RunplaneClient, Settings, State, StateType
from runplane.server import RunplaneServer

pytestmark = pytest.mark.anyio

# Retitles the window, clears the screen, rings the bell, and a C1 CSI.
HOSTILE = "a\x1b]0;owned\x07b\x1b[2Jc\x9b31md\rhidden"
CONTROL_BYTES = ("\x1b", "\x07", "\x9b", "\r")


def assert_terminal_safe(output: str) -> None:
    for control in CONTROL_BYTES:
        assert control not in output, repr(output)
    assert "\\x1b]0;owned\\x07b\\x1b[2Jc\\x9b31md" in output


async def hostile_run(server: RunplaneServer) -> uuid.UUID:
    flow_name = f"safe-{uuid.uuid4().hex[:8]}"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        flow = await client.create_flow(flow_name)
        run = await client.create_flow_run(flow.id, name="plain")
        await client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
        await client.set_flow_run_state(run.id, State(type=StateType.FAILED, message=HOSTILE))
        await client.write_logs([LogRecord(flow_run_id=run.id, level=40, message=HOSTILE)])
    return run.id


async def test_logs_and_state_messages_are_escaped(server: RunplaneServer) -> None:
    run_id = await hostile_run(server)
    for command in (
        ("flow-run", "logs", str(run_id)),
        ("flow-run", "inspect", str(run_id)),
        ("flow-run", "watch", str(run_id)),
    ):
        code, output = await invoke(server, *command)
        assert code in (0, 3), output
        assert_terminal_safe(output)


async def test_json_output_escapes_control_characters(server: RunplaneServer) -> None:
    run_id = await hostile_run(server)
    code, output = await invoke(server, "flow-run", "inspect", str(run_id), "-o", "json")
    assert code == 0, output
    for control in CONTROL_BYTES:
        assert control not in output
    assert json.loads(output)["state"]["message"] == HOSTILE


async def test_artifacts_are_escaped(server: RunplaneServer) -> None:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        markdown = await client.create_artifact(ArtifactType.MARKDOWN, HOSTILE, description=HOSTILE)
        table = await client.create_artifact(ArtifactType.TABLE, json.dumps([{"c": HOSTILE}]))
        link = await client.create_artifact(ArtifactType.LINK, f"[{HOSTILE}](https://x.test)")
    for artifact in (markdown, table, link):
        code, output = await invoke(server, "artifact", "inspect", str(artifact.id))
        assert code == 0, output
        for control in CONTROL_BYTES:
            assert control not in output, repr(output)
    code, output = await invoke(server, "artifact", "ls", "-o", "wide")
    assert code == 0, output
    for control in CONTROL_BYTES:
        assert control not in output


async def test_a_link_artifact_shows_its_url_off_a_terminal(server: RunplaneServer) -> None:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        with_text = await client.create_artifact(
            ArtifactType.LINK, "[the report](https://reports.test/q3)"
        )
        bare = await client.create_artifact(ArtifactType.LINK, "https://reports.test/q4")
    code, output = await invoke(server, "artifact", "inspect", str(with_text.id))
    assert code == 0, output
    assert "the report <https://reports.test/q3>" in output
    code, output = await invoke(server, "artifact", "inspect", str(bare.id))
    assert code == 0, output
    assert "https://reports.test/q4" in output
