"""ArtifactService through a real server: the client, bad input, publishing from runs, the CLI."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from cli_support import invoke
from engine_support import any_engine_api, engine_api
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_support import invalid_argument_details, status_detail

from runplane import (
    ArtifactType,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RunplaneClient,
    Settings,
    SyncRunplaneClient,
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    flow,
    task,
    update_progress_artifact,
)
from runplane.server import RunplaneServer
from runplane.v1 import artifacts_pb2, artifacts_pb2_grpc

__all__ = ["any_engine_api", "engine_api"]

PROGRESS = artifacts_pb2.ARTIFACT_TYPE_PROGRESS
IMAGE = artifacts_pb2.ARTIFACT_TYPE_IMAGE
TABLE = artifacts_pb2.ARTIFACT_TYPE_TABLE
ANY_ID = "6f1f7f0e-0000-4000-8000-000000000000"


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
        *(
            (artifacts_pb2.CreateArtifactRequest(type=PROGRESS, data=bad), "data")
            for bad in ("100.5", "-1", "nan", "inf", "1e400", "half", "1_0", "0x10", " ")
        ),
        *(
            (artifacts_pb2.CreateArtifactRequest(type=IMAGE, data=bad), "data")
            for bad in (
                "javascript:alert(1)",
                "data:image/png;base64,AAAA",
                "ftp://example.com/a.png",
                "/static/a.png",
                "https:///a.png",
                "https://example.com/a b.png",
                "https://example.com/a\n.png",
            )
        ),
        (artifacts_pb2.CreateArtifactRequest(type=TABLE, data="[[1, 2], [3]]"), "data"),
        (artifacts_pb2.CreateArtifactRequest(type=TABLE, data='[[1], {"a": 1}]'), "data"),
        (artifacts_pb2.UpdateArtifactRequest(artifact_id="nope", data="5"), "artifact_id"),
        (artifacts_pb2.UpdateArtifactRequest(artifact_id=ANY_ID), "data"),
        (artifacts_pb2.UpdateArtifactRequest(artifact_id=ANY_ID, data="101"), "data"),
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


async def _update_error(
    stub: artifacts_pb2_grpc.ArtifactServiceStub, artifact_id: str
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.UpdateArtifact(
            artifacts_pb2.UpdateArtifactRequest(artifact_id=artifact_id, data="50")
        )
    return error.value


@pytest.mark.anyio
async def test_a_progress_changes_in_place_and_nothing_else_does(server: RunplaneServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = artifacts_pb2_grpc.ArtifactServiceStub(channel)
        created = (
            await stub.CreateArtifact(
                artifacts_pb2.CreateArtifactRequest(type=PROGRESS, data="12.50", key="load")
            )
        ).artifact
        assert created.data == "12.5"
        updated = (
            await stub.UpdateArtifact(
                artifacts_pb2.UpdateArtifactRequest(artifact_id=created.id, data=" 100 ")
            )
        ).artifact
        assert updated.data == "100"
        read = await stub.GetArtifact(artifacts_pb2.GetArtifactRequest(artifact_id=created.id))
        assert read.artifact == updated
        assert (updated.id, updated.key, updated.create_time) == (
            created.id,
            created.key,
            created.create_time,
        )

        unknown = await _update_error(stub, str(uuid.uuid4()))
        assert unknown.code() is grpc.StatusCode.NOT_FOUND, unknown.details()

        markdown = (
            await stub.CreateArtifact(
                artifacts_pb2.CreateArtifactRequest(
                    type=artifacts_pb2.ARTIFACT_TYPE_MARKDOWN, data="# stays"
                )
            )
        ).artifact
        refused = await _update_error(stub, markdown.id)
        assert refused.code() is grpc.StatusCode.FAILED_PRECONDITION, refused.details()
        info = status_detail(refused, error_details_pb2.ErrorInfo)
        assert info.reason == "ARTIFACT_NOT_UPDATABLE"
        assert "ARTIFACT_TYPE_MARKDOWN" in (refused.details() or "")
        kept = await stub.GetArtifact(artifacts_pb2.GetArtifactRequest(artifact_id=markdown.id))
        assert kept.artifact.data == "# stays"


def test_progress_images_and_row_lists_from_a_flow(any_engine_api: SyncRunplaneClient) -> None:
    @task
    def load(progress_id: uuid.UUID) -> None:
        update_progress_artifact(progress_id, 60)

    @flow
    def nightly() -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
        progress_id = create_progress_artifact(0.0, key="nightly-load", description="rows")
        load(progress_id)
        image = create_image_artifact("https://example.com/chart.png", key="nightly-chart")
        bare = create_table_artifact([["Oslo", 3], ["Lima", 19]])
        named = create_table_artifact([["Oslo", 3], ["Lima", 19]], headers=["city", "temp"])
        return progress_id, image, bare, named

    progress_id, image_id, bare_id, named_id = nightly()
    progress = any_engine_api.get_artifact(progress_id)
    assert (progress.type, progress.data, progress.key, progress.description) == (
        ArtifactType.PROGRESS,
        "60",
        "nightly-load",
        "rows",
    )
    assert progress.flow_run_id is not None
    assert update_progress_artifact(progress_id, 99.5) == progress_id
    assert any_engine_api.get_artifact(progress_id).data == "99.5"
    image = any_engine_api.get_artifact(image_id)
    assert (image.type, image.data) == (ArtifactType.IMAGE, "https://example.com/chart.png")
    assert json.loads(any_engine_api.get_artifact(bare_id).data) == [["Oslo", 3], ["Lima", 19]]
    assert json.loads(any_engine_api.get_artifact(named_id).data) == [
        {"city": "Oslo", "temp": 3},
        {"city": "Lima", "temp": 19},
    ]

    with pytest.raises(InvalidArgument, match="http or https"):
        create_image_artifact("javascript:alert(1)")
    with pytest.raises(ValueError, match="from 0 to 100"):
        create_progress_artifact(101)
    with pytest.raises(FailedPrecondition, match="only progress"):
        update_progress_artifact(bare_id, 10)
    with pytest.raises(NotFound):
        update_progress_artifact(uuid.uuid4(), 10)


@pytest.mark.parametrize(
    ("table", "headers", "error", "message"),
    [
        ("a,b", None, TypeError, "table must be a list of dicts"),
        ({"a": 1}, None, TypeError, "column 'a' must be a list"),
        ({"a": [1]}, ["a"], TypeError, "a dict of columns has them"),
        ([{"a": 1}], ["a"], TypeError, "dict rows have them"),
        ([{"a": 1}, [1]], None, TypeError, r"row 1 is a list \(row 0 is a dict\)"),
        ([[1], {"a": 1}], None, TypeError, r"row 1 is a dict \(row 0 is a list\)"),
        (["ab", "cd"], None, TypeError, "row 0 is a str"),
        ([[1, 2], [3]], None, ValueError, "row 1 has 1 cells, but row 0 has 2"),
        ([[1, 2]], ["a"], ValueError, "row 0 has 2 cells, but headers has 1"),
        ([[1, 2]], ["a", "a"], ValueError, "headers must be distinct"),
        ([[1]], "a", TypeError, "headers must be a list"),
    ],
)
def test_a_table_of_the_wrong_shape_is_refused_before_sending(
    table: object, headers: list[str] | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        create_table_artifact(table, headers=headers)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_the_cli_shows_progress_images_and_row_lists(
    server: RunplaneServer, client: RunplaneClient
) -> None:
    key = unique_key()
    progress = await client.create_artifact(ArtifactType.PROGRESS, "42.5", key=key)
    image = await client.create_artifact(ArtifactType.IMAGE, "https://example.com/c.png", key=key)
    rows = await client.create_artifact(ArtifactType.TABLE, '[["Oslo", 3]]', key=key)
    code, output = await invoke(server, "artifact", "ls", "--key", key)
    assert code == 0, output
    assert "42.5%" in output
    assert "https://example.com/c.png" in output
    assert "progress" in output
    assert "image" in output

    code, output = await invoke(server, "artifact", "inspect", str(progress.id))
    assert code == 0, output
    assert "█" * 17 + "░" in output
    assert "42.5%" in output
    code, output = await invoke(server, "artifact", "inspect", str(image.id))
    assert (code, output.splitlines()[-1]) == (0, "image <https://example.com/c.png>")
    code, output = await invoke(server, "artifact", "inspect", str(rows.id))
    assert code == 0, output
    assert "Oslo" in output
    assert "3" in output
