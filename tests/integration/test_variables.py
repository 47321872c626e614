"""VariableService through a real server: the client, bad input, and ``Variable`` in flows."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from engine_support import engine_api
from google.protobuf.message import Message
from grpc_support import invalid_argument_details

from runplane import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    RunplaneClient,
    Settings,
    SyncRunplaneClient,
    Variable,
    flow,
)
from runplane.server import RunplaneServer
from runplane.v1 import variables_pb2, variables_pb2_grpc

__all__ = ["engine_api"]


def unique(prefix: str = "var") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client(server: RunplaneServer) -> AsyncIterator[RunplaneClient]:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        yield client


@pytest.mark.anyio
@pytest.mark.parametrize(
    "value",
    ["text", 42, 2.5, True, None, [1, "two", None], {"hosts": ["a", "b"], "port": 5432}],
    ids=["str", "int", "float", "bool", "null", "list", "object"],
)
async def test_every_json_value_comes_back_as_stored(client: RunplaneClient, value: object) -> None:
    name = unique()
    stored = await client.set_variable(name, value, tags=["prod"])
    assert (stored.name, stored.value, stored.tags) == (name, value, ("prod",))
    read = await client.get_variable(name)
    assert read == stored
    assert type(read.value) is type(value)


@pytest.mark.anyio
async def test_an_existing_name_needs_overwrite(client: RunplaneClient) -> None:
    name = unique()
    first = await client.set_variable(name, 1)
    with pytest.raises(AlreadyExists, match=name):
        await client.set_variable(name, 2)
    assert (await client.get_variable(name)).value == 1
    second = await client.set_variable(name, 2, tags=["new"], overwrite=True)
    assert (second.id, second.value, second.tags) == (first.id, 2, ("new",))
    assert second.create_time == first.create_time
    assert second.update_time is not None
    assert first.update_time is not None
    assert second.update_time >= first.update_time


@pytest.mark.anyio
async def test_list_pages_through_a_prefix_in_name_order(client: RunplaneClient) -> None:
    prefix = unique("list") + "-"
    names = [f"{prefix}{index:02d}" for index in range(5)]
    for name in reversed(names):
        await client.set_variable(name, name)
    await client.set_variable(unique("other"), 0)
    seen: list[str] = []
    first = await client.list_variables(name_prefix=prefix, page_size=2)
    seen.extend(variable.name for variable in first)
    token = first.next_page_token
    while token:
        page = await client.list_variables(name_prefix=prefix, page_size=2, page_token=token)
        seen.extend(variable.name for variable in page)
        token = page.next_page_token
    assert seen == names
    # A token belongs to its listing: with another prefix it is refused, not followed.
    with pytest.raises(InvalidArgument, match="page_token"):
        await client.list_variables(name_prefix="other", page_token=first.next_page_token)


@pytest.mark.anyio
async def test_delete_removes_and_then_is_not_found(client: RunplaneClient) -> None:
    name = unique()
    await client.set_variable(name, "x")
    await client.delete_variable(name)
    with pytest.raises(NotFound, match=name):
        await client.get_variable(name)
    with pytest.raises(NotFound, match=name):
        await client.delete_variable(name)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (variables_pb2.SetVariableRequest(name="", value_json="1"), "name"),
        (variables_pb2.SetVariableRequest(name="Upper", value_json="1"), "name"),
        (variables_pb2.SetVariableRequest(name="no-value"), "value_json"),
        (
            variables_pb2.SetVariableRequest(name="huge", value_json=json.dumps("x" * 70_000)),
            "value_json",
        ),
        (variables_pb2.SetVariableRequest(name="not-a-number", value_json="NaN"), "value"),
        (variables_pb2.SetVariableRequest(name="broken", value_json="{1: 2}"), "value_json"),
        (variables_pb2.SetVariableRequest(name="tagged", value_json="true", tags=[""]), "tags"),
        (variables_pb2.GetVariableRequest(name="a" * 256), "name"),
        (variables_pb2.ListVariablesRequest(page_size=-1), "page_size"),
        (variables_pb2.ListVariablesRequest(page_token="garbage!"), "page_token"),
        (variables_pb2.DeleteVariableRequest(name="with space"), "name"),
    ],
)
async def test_invalid_fields_are_named(
    server: RunplaneServer, request_message: Message, field: str
) -> None:
    stub = variables_pb2_grpc.VariableServiceStub
    assert field in await invalid_argument_details(server.address, stub, request_message)


def test_flows_read_and_write_variables(engine_api: SyncRunplaneClient) -> None:
    name = unique()

    @flow
    def configured() -> tuple[object, object]:
        Variable.set(name, {"batch": 500})
        return Variable.get(name), Variable.get(unique("missing"), "fallback")

    assert configured() == ({"batch": 500}, "fallback")
    assert engine_api.get_variable(name).value == {"batch": 500}
    with pytest.raises(AlreadyExists):
        Variable.set(name, 1)
    assert Variable.set(name, 1, overwrite=True).value == 1
    assert Variable.unset(name) is True
    assert Variable.unset(name) is False


def test_async_flows_use_the_async_helpers(engine_api: SyncRunplaneClient) -> None:
    name = unique()

    @flow
    async def configured() -> object:
        await Variable.aset(name, [1, 2], tags=["a"])
        value = await Variable.aget(name)
        assert await Variable.aunset(name)
        return value

    assert asyncio.run(configured()) == [1, 2]
    with pytest.raises(NotFound):
        engine_api.get_variable(name)
