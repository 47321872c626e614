"""ArtifactService through a real server: the client, bad input, publishing from runs, the CLI."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
from cli_support import invoke
from engine_support import engine_api
from google.protobuf.message import Message
from grpc_support import invalid_argument_details

from runplane import (
    ArtifactType,
    InvalidArgument,
    NotFound,
    RunplaneClient,
    Settings,
    SyncRunplaneClient,
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
    flow,
    task,
)
from runplane.server import RunplaneServer
from runplane.v1 import artifacts_pb2, artifacts_pb2_grpc

__all__ = ["engine_api"]


def unique_key() -> str:
    return f"report-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client(server: RunplaneServer) -> AsyncIterator[RunplaneClient]:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        yield client


@pytest.mark.anyio
async def test_versions_of_a_key_list_newest_first_across_pages(client: RunplaneClient) -> None:
    key = unique_key()
    created = [
        await client.create_artifact(ArtifactType.MARKDOWN, f"# v{n}", key=key, description="d")
        for n in range(5)
    ]
    await client.create_artifact(ArtifactType.LINK, "https://example.com", key=unique_key())
    seen: list[uuid.UUID] = []
    first = await client.list_artifacts(key=key, page_size=2)
    seen.extend(artifact.id for artifact in first)
    token = first.next_page_token
    while token:
        page = await client.list_artifacts(key=key, page_size=2, page_token=token)
        seen.extend(artifact.id for artifact in page)
        token = page.next_page_token
    assert seen == [artifact.id for artifact in reversed(created)]
    assert await client.get_artifact(created[0].id) == created[0]
    with pytest.raises(InvalidArgument, match="page_token"):
        await client.list_artifacts(key=unique_key(), page_token=first.next_page_token)


@pytest.mark.anyio
async def test_delete_and_then_not_found(client: RunplaneClient) -> None:
    artifact = await client.create_artifact(ArtifactType.MARKDOWN, "gone soon")
    await client.delete_artifact(artifact.id)
    with pytest.raises(NotFound):
        await client.get_artifact(artifact.id)
    with pytest.raises(NotFound):
        await client.delete_artifact(artifact.id)
    with pytest.raises(NotFound, match="flow run"):
        await client.create_artifact(ArtifactType.MARKDOWN, "x", flow_run_id=uuid.uuid4())


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (artifacts_pb2.CreateArtifactRequest(data="x"), "type"),
        (artifacts_pb2.CreateArtifactRequest(type=42, data="x"), "type"),  # type: ignore[arg-type]
        (artifacts_pb2.CreateArtifactRequest(type=artifacts_pb2.ARTIFACT_TYPE_MARKDOWN), "data"),
        (
            artifacts_pb2.CreateArtifactRequest(
                type=artifacts_pb2.ARTIFACT_TYPE_TABLE, data="not json"
            ),
            "data",
        ),
        (
            artifacts_pb2.CreateArtifactRequest(type=artifacts_pb2.ARTIFACT_TYPE_TABLE, data="[1]"),
            "data",
        ),
        (
            artifacts_pb2.CreateArtifactRequest(
                type=artifacts_pb2.ARTIFACT_TYPE_MARKDOWN, data="x" * (1024 * 1024 + 1)
            ),
            "data",
        ),
        (
            artifacts_pb2.CreateArtifactRequest(
                type=artifacts_pb2.ARTIFACT_TYPE_MARKDOWN, data="x", key="Not A Key"
            ),
            "key",
        ),
        (
            artifacts_pb2.CreateArtifactRequest(
                type=artifacts_pb2.ARTIFACT_TYPE_MARKDOWN, data="x", flow_run_id="nope"
            ),
            "flow_run_id",
        ),
        (artifacts_pb2.GetArtifactRequest(artifact_id="nope"), "artifact_id"),
        (artifacts_pb2.ListArtifactsRequest(page_size=-1), "page_size"),
        (artifacts_pb2.ListArtifactsRequest(page_token="garbage!"), "page_token"),
        (artifacts_pb2.DeleteArtifactRequest(), "artifact_id"),
    ],
)
async def test_invalid_fields_are_named(
    server: RunplaneServer, request_message: Message, field: str
) -> None:
    stub = artifacts_pb2_grpc.ArtifactServiceStub
    assert field in await invalid_argument_details(server.address, stub, request_message)


def test_flows_and_tasks_publish_artifacts_linked_to_their_runs(
    engine_api: SyncRunplaneClient,
) -> None:
    key = unique_key()

    @task
    def measure() -> uuid.UUID:
        return create_table_artifact([{"rows": 3, "table": "a"}, {"rows": 5}], key=key)

    @flow
    def report() -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
        table = measure()
        markdown = create_markdown_artifact("# Loaded\n8 rows", key=key, description="daily")
        link = create_link_artifact("https://example.com/run", "the dashboard")
        return table, markdown, link

    table_id, markdown_id, link_id = report()
    table = engine_api.get_artifact(table_id)
    markdown = engine_api.get_artifact(markdown_id)
    link = engine_api.get_artifact(link_id)
    assert json.loads(table.data) == [{"rows": 3, "table": "a"}, {"rows": 5}]
    assert table.task_run_id is not None
    assert (markdown.type, markdown.description, markdown.task_run_id) == (
        ArtifactType.MARKDOWN,
        "daily",
        None,
    )
    assert markdown.flow_run_id is not None
    assert table.flow_run_id == markdown.flow_run_id == link.flow_run_id
    assert link.data == "[the dashboard](https://example.com/run)"
    listed = engine_api.list_artifacts(flow_run_id=markdown.flow_run_id)
    assert [artifact.id for artifact in listed] == [link_id, markdown_id, table_id]
    outside = engine_api.get_artifact(create_markdown_artifact("no run"))
    assert (outside.flow_run_id, outside.task_run_id) == (None, None)


@pytest.mark.anyio
async def test_the_cli_lists_renders_and_deletes(
    server: RunplaneServer, client: RunplaneClient
) -> None:
    key = unique_key()
    table = await client.create_artifact(
        ArtifactType.TABLE, json.dumps({"city": ["Oslo", "Lima"], "temp": [3, 19]}), key=key
    )
    code, output = await invoke(server, "artifact", "ls", "--key", key)
    assert code == 0, output
    assert str(table.id) in output
    assert "table" in output

    code, output = await invoke(server, "artifact", "inspect", str(table.id))
    assert code == 0, output
    for cell in ("city", "temp", "Oslo", "Lima", "19"):
        assert cell in output

    code, output = await invoke(server, "artifact", "delete", str(table.id))
    assert (code, output.strip()) == (0, f"artifact {table.id} deleted")
    code, output = await invoke(server, "artifact", "inspect", str(table.id))
    assert (code, output.strip()) == (1, f"no artifact {table.id}")
