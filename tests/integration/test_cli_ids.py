"""Ids typed on the command line: a unique prefix of six or more characters will do."""

from __future__ import annotations

import uuid

import pytest
from cli_support import invoke

from runplane import ArtifactType, RunplaneClient, Settings
from runplane.server import RunplaneServer

pytestmark = pytest.mark.anyio


def sharing_a_prefix(prefix: str) -> tuple[uuid.UUID, uuid.UUID]:
    """Two ids that both start with ``prefix`` (8 hex characters) and differ after it."""
    return uuid.UUID(prefix + "-0000-4000-8000-" + "1" * 12), uuid.UUID(
        prefix + "-0000-4000-8000-" + "2" * 12
    )


async def test_a_unique_prefix_names_the_run(server: RunplaneServer) -> None:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        flow = await client.create_flow(f"ids-{uuid.uuid4().hex[:8]}")
        run = await client.create_flow_run(flow.id, name="found-by-prefix")
    for prefix in (str(run.id)[:8], str(run.id)[:6].upper()):
        code, output = await invoke(server, "flow-run", "inspect", prefix)
        assert code == 0, output
        assert "found-by-prefix" in output
        assert str(run.id) in output


async def test_an_ambiguous_prefix_lists_the_candidates(server: RunplaneServer) -> None:
    first, second = sharing_a_prefix(uuid.uuid4().hex[:8])
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        flow = await client.create_flow(f"ids-{uuid.uuid4().hex[:8]}")
        for run_id, name in ((first, "first"), (second, "second")):
            await client.create_flow_run(flow.id, name=name, flow_run_id=run_id)
    code, output = await invoke(server, "flow-run", "inspect", str(first)[:8])
    assert code == 1
    assert "is the start of 2 flow run ids" in output
    assert f"{first}  first" in output
    assert f"{second}  second" in output

    code, output = await invoke(server, "flow-run", "logs", str(first)[:25])
    assert code == 0, output


async def test_short_or_non_hex_prefixes_are_usage_errors(server: RunplaneServer) -> None:
    for text in ("abc12", "not-an-id"):
        code, output = await invoke(server, "flow-run", "inspect", text)
        assert code == 2, output
        assert "at least 6 hexadecimal characters" in output


async def test_an_unknown_prefix_is_not_found(server: RunplaneServer) -> None:
    code, output = await invoke(server, "flow-run", "cancel", "ffffff0000")
    assert code == 1
    assert "no flow run with an id starting with 'ffffff0000'" in output


async def test_artifacts_are_found_by_prefix(server: RunplaneServer) -> None:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        artifact = await client.create_artifact(ArtifactType.MARKDOWN, "# found")
    code, output = await invoke(server, "artifact", "inspect", str(artifact.id)[:8])
    assert code == 0, output
    assert "found" in output
