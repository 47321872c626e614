"""A command or client that cannot reach its server, is refused its key, or sends too much is
told so in one line: the address, the setting that chose it, and what to try."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from net_support import free_port
from pydantic import SecretStr

from runplane import MessageTooLarge, RunplaneClient, Settings, Unauthenticated
from runplane.server import RunplaneServer, ServerSettings, create_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

KEY = "the-key"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    # Connections and limits do not depend on the database: SQLite alone keeps these quick.
    return f"sqlite+aiosqlite:///{tmp_path / 'runplane.db'}"


@pytest.fixture
async def keyed(server_settings: ServerSettings) -> AsyncIterator[RunplaneServer]:
    """A server that takes one key and refuses requests over 64 KiB."""
    settings = server_settings.model_copy(
        update={"api_keys": [SecretStr(KEY)], "max_message_bytes": 64 * 1024}
    )
    async with await create_server(settings) as running:
        yield running


async def _runplane(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    """Exit code and stderr of ``runplane ARGS`` as its own process, as a terminal runs it."""
    environment = {**os.environ, "RUNPLANE_HOME": str(tmp_path), **env}
    environment.pop("GRPC_VERBOSITY", None)
    command = [sys.executable, "-m", "runplane.cli", *args]
    with anyio.fail_after(90):
        finished = await anyio.run_process(command, env=environment, check=False)
    return finished.returncode, finished.stderr.decode()


async def test_a_wrong_api_url_names_the_variable_and_what_to_try(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    code, stderr = await _runplane(tmp_path, "flow-run", "ls", RUNPLANE_API_URL=address)
    assert code == 1
    assert stderr.splitlines() == [
        f"error: cannot reach a runplane server at {address} (RUNPLANE_API_URL): Failed to "
        "connect to remote host: Connection refused; start one there (`make run` or `runplane "
        "server start`), or unset RUNPLANE_API_URL to use the embedded server"
    ]


async def test_tls_against_a_plaintext_server_says_so_without_grpc_log_lines(
    keyed: RunplaneServer, tmp_path: Path
) -> None:
    code, stderr = await _runplane(
        tmp_path, "flow-run", "ls", RUNPLANE_API_URL=f"https://{keyed.address}"
    )
    assert code == 1
    # gRPC's own "Handshake failed with error SSL_ERROR_SSL" lines stay off the terminal.
    assert stderr.splitlines() == [
        f"error: the server at {keyed.address} (RUNPLANE_API_URL) does not speak TLS: use a "
        "plain host:port URL without TLS files, or start the server with "
        "RUNPLANE_SERVER_TLS_CERT and RUNPLANE_SERVER_TLS_KEY"
    ]


async def test_a_wrong_api_key_is_one_line_naming_the_server_and_the_variable(
    keyed: RunplaneServer, tmp_path: Path
) -> None:
    code, stderr = await _runplane(
        tmp_path, "flow-run", "ls", RUNPLANE_API_URL=keyed.address, RUNPLANE_API_KEY="wrong"
    )
    assert code == 1
    assert stderr.splitlines() == [
        f"error: the server at {keyed.address} refused the API key (RUNPLANE_API_KEY): a valid "
        "API key is required: send the metadata 'authorization: Bearer <key>'"
    ]


async def test_a_missing_api_key_says_which_variable_to_set(
    keyed: RunplaneServer, tmp_path: Path
) -> None:
    async with RunplaneClient(Settings(api_url=keyed.address, home=tmp_path)) as client:
        with pytest.raises(Unauthenticated) as refused:
            await client.list_flows()
    assert str(refused.value) == (
        f"the server at {keyed.address} requires an API key: set RUNPLANE_API_KEY (the server "
        "said: a valid API key is required: send the metadata 'authorization: Bearer <key>')"
    )


async def test_a_request_over_the_clients_send_limit_names_that_limit(
    keyed: RunplaneServer, tmp_path: Path
) -> None:
    settings = Settings(api_url=keyed.address, home=tmp_path, api_key=SecretStr(KEY))
    async with RunplaneClient(settings) as client:
        with pytest.raises(MessageTooLarge) as refused:
            await client.set_variable("big", "x" * (17 * 1024 * 1024))
    error = refused.value
    assert error.limit == 16 * 1024 * 1024
    assert error.size > error.limit
    assert str(error) == (
        f"the request is {error.size:,} bytes, over this client's send limit of 16,777,216 "
        "bytes; pass large values by reference instead: a path, or a result kept in result "
        "storage (persist_result=True)"
    )


async def test_a_request_over_the_servers_receive_limit_names_its_setting(
    keyed: RunplaneServer, tmp_path: Path
) -> None:
    settings = Settings(api_url=keyed.address, home=tmp_path, api_key=SecretStr(KEY))
    async with RunplaneClient(settings) as client:
        with pytest.raises(MessageTooLarge) as refused:
            await client.set_variable("big", "x" * (100 * 1024))
    error = refused.value
    assert error.limit == 64 * 1024
    assert str(error) == (
        f"the request is {error.size:,} bytes, over the server's receive limit of 65,536 bytes "
        "(RUNPLANE_SERVER_MAX_MESSAGE_BYTES on the server); pass large values by reference "
        "instead: a path, or a result kept in result storage (persist_result=True)"
    )
