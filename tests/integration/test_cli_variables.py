"""``runplane variable`` against a real server."""

from __future__ import annotations

import json
import uuid

import pytest
from cli_support import invoke

from runplane import RunplaneClient, Settings
from runplane.server import RunplaneServer

pytestmark = pytest.mark.anyio


async def test_set_get_list_and_unset(server: RunplaneServer) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    code, output = await invoke(server, "variable", "set", name, '{"port": 5432}', "--tag", "db")
    assert (code, output.strip()) == (0, f"variable {name} set")

    code, output = await invoke(server, "variable", "get", name)
    assert code == 0, output
    assert json.loads(output) == {"port": 5432}

    code, output = await invoke(server, "variable", "set", name, "hello")
    assert code == 1
    assert "--overwrite" in output
    code, output = await invoke(server, "variable", "set", name, "hello", "--overwrite")
    assert code == 0, output
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        stored = await client.get_variable(name)
    assert (stored.value, stored.tags) == ("hello", ())

    code, output = await invoke(server, "variable", "ls", "--prefix", name)
    assert code == 0, output
    (row,) = [line.split() for line in output.splitlines() if name in line]
    assert row[:2] == [name, '"hello"']

    code, output = await invoke(server, "variable", "unset", name)
    assert (code, output.strip()) == (0, f"variable {name} unset")
    code, output = await invoke(server, "variable", "get", name)
    assert (code, output.strip()) == (1, f"no variable named {name!r}")
    code, output = await invoke(server, "variable", "unset", name)
    assert (code, output.strip()) == (1, f"no variable named {name!r}")


async def test_an_invalid_name_is_refused_with_the_reason(server: RunplaneServer) -> None:
    code, output = await invoke(server, "variable", "set", "Not Valid", "1")
    assert code == 1
    assert output.strip() == "error: name: may hold only lowercase letters, digits, '_' and '-'"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("1.0", 1.0), ("9007199254740993", 2**53 + 1), ("1e30", 1e30), ("NaN", "NaN")],
)
async def test_values_keep_their_json_types_and_non_json_is_text(
    server: RunplaneServer, typed: str, stored: object
) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    code, output = await invoke(server, "variable", "set", name, typed)
    assert code == 0, output
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        value = (await client.get_variable(name)).value
    assert type(value) is type(stored)
    assert value == stored
    code, output = await invoke(server, "variable", "get", name)
    assert code == 0, output
    assert output.strip() == json.dumps(stored)
