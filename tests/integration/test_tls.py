"""TLS and mutual TLS between the server and its clients, with certificates made per test."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from tls_support import Pki, make_pki

from runplane import RunplaneClient, Settings, Unavailable
from runplane.runner import Runner
from runplane.server import RunplaneServer, ServerSettings, create_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def _server_settings(
    tmp_path: Path, database_url: str, pki: Pki, *, mutual: bool
) -> ServerSettings:
    # TLS does not depend on the database: SQLite alone keeps these tests quick.
    return ServerSettings(
        home=tmp_path,
        database_url=database_url,
        host="127.0.0.1",
        port=0,
        tls_cert=pki.server.cert,
        tls_key=pki.server.key,
        tls_client_ca=pki.ca if mutual else None,
        loops_enabled=False,
    )


@pytest.fixture
async def tls_server(
    tmp_path: Path, sqlite_database_url: str, pki: Pki
) -> AsyncIterator[RunplaneServer]:
    settings = _server_settings(tmp_path, sqlite_database_url, pki, mutual=False)
    async with await create_server(settings) as running:
        yield running


@pytest.fixture
async def mtls_server(
    tmp_path: Path, sqlite_database_url: str, pki: Pki
) -> AsyncIterator[RunplaneServer]:
    settings = _server_settings(tmp_path, sqlite_database_url, pki, mutual=True)
    async with await create_server(settings) as running:
        yield running


def _client_settings(server: RunplaneServer, home: Path, **tls: Path) -> Settings:
    return Settings(api_url=server.address, home=home, request_timeout=10, **tls)


def _certified_settings(server: RunplaneServer, home: Path, pki: Pki) -> Settings:
    """A client that trusts the CA and presents the client certificate."""
    return _client_settings(
        server,
        home,
        tls_ca_file=pki.ca,
        tls_cert_file=pki.client.cert,
        tls_key_file=pki.client.key,
    )


async def _flow_names(server: RunplaneServer, home: Path, pki: Pki) -> list[str]:
    """What the server stored, read over a connection that is known to work."""
    async with RunplaneClient(_certified_settings(server, home, pki)) as client:
        return [flow.name for flow in await client.list_flows()]


async def test_a_client_that_trusts_the_ca_calls_over_tls(
    tls_server: RunplaneServer, pki: Pki, tmp_path: Path
) -> None:
    async with RunplaneClient(_client_settings(tls_server, tmp_path, tls_ca_file=pki.ca)) as client:
        flow = await client.create_flow("over-tls")
        again = await client.get_flow(flow.id)
    assert again.name == "over-tls"


async def test_a_plaintext_client_cannot_reach_a_tls_server(
    tls_server: RunplaneServer, pki: Pki, tmp_path: Path
) -> None:
    async with RunplaneClient(_client_settings(tls_server, tmp_path)) as client:
        with pytest.raises(Unavailable) as refused:
            await client.create_flow("over-plaintext")
    assert str(refused.value) == (
        f"the server at {tls_server.address} (RUNPLANE_API_URL) requires TLS: use an https:// "
        "URL in RUNPLANE_API_URL, with RUNPLANE_TLS_CA_FILE for a private CA"
    )
    assert await _flow_names(tls_server, tmp_path, pki) == []


async def test_a_tls_client_is_told_that_a_plaintext_server_does_not_speak_tls(
    tmp_path: Path, sqlite_database_url: str, pki: Pki
) -> None:
    plaintext = _server_settings(tmp_path, sqlite_database_url, pki, mutual=False).model_copy(
        update={"tls_cert": None, "tls_key": None}
    )
    async with await create_server(plaintext) as server:
        settings = Settings(api_url=f"https://{server.address}", home=tmp_path, tls_ca_file=pki.ca)
        async with RunplaneClient(settings) as client:
            with pytest.raises(Unavailable) as refused:
                await client.list_flows()
    assert str(refused.value) == (
        f"the server at {server.address} (RUNPLANE_API_URL) does not speak TLS: use a plain "
        "host:port URL without TLS files, or start the server with RUNPLANE_SERVER_TLS_CERT "
        "and RUNPLANE_SERVER_TLS_KEY"
    )


async def test_a_client_is_told_when_it_does_not_trust_the_server_certificate(
    tls_server: RunplaneServer, tmp_path: Path
) -> None:
    settings = Settings(api_url=f"https://{tls_server.address}", home=tmp_path)
    async with RunplaneClient(settings) as client:
        with pytest.raises(Unavailable) as refused:
            await client.list_flows()
    assert str(refused.value) == (
        f"the server at {tls_server.address} (RUNPLANE_API_URL) presented a TLS certificate "
        "this client does not trust: set RUNPLANE_TLS_CA_FILE to the CA that signed it"
    )


async def test_mutual_tls_refuses_a_client_without_a_certificate(
    mtls_server: RunplaneServer, pki: Pki, tmp_path: Path
) -> None:
    anonymous = _client_settings(mtls_server, tmp_path, tls_ca_file=pki.ca)
    async with RunplaneClient(anonymous) as client:
        with pytest.raises(Unavailable) as refused:
            await client.create_flow("without-certificate")
    assert str(refused.value).startswith(
        f"the TLS handshake with the server at {mtls_server.address} (RUNPLANE_API_URL) failed: "
    )
    assert str(refused.value).endswith(
        "; a server that requires client certificates needs RUNPLANE_TLS_CERT_FILE and "
        "RUNPLANE_TLS_KEY_FILE"
    )
    assert await _flow_names(mtls_server, tmp_path, pki) == []


async def test_mutual_tls_accepts_a_client_with_a_certificate(
    mtls_server: RunplaneServer, pki: Pki, tmp_path: Path
) -> None:
    certified = _certified_settings(mtls_server, tmp_path, pki)
    async with RunplaneClient(certified) as client:
        await client.create_flow("with-certificate")
    assert await _flow_names(mtls_server, tmp_path, pki) == ["with-certificate"]


async def test_a_client_certificate_alone_turns_tls_on(
    mtls_server: RunplaneServer, pki: Pki, tmp_path: Path
) -> None:
    # No CA file and no https:// URL: the client trusts gRPC's default roots, which
    # GRPC_DEFAULT_SSL_ROOTS_FILE_PATH replaces with the test CA. gRPC reads those roots once
    # per process, hence a process of its own.
    env = {
        **os.environ,
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(pki.ca),
        "RUNPLANE_API_URL": mtls_server.address,
        "RUNPLANE_HOME": str(tmp_path),
        "RUNPLANE_REQUEST_TIMEOUT": "10",
        "RUNPLANE_TLS_CERT_FILE": str(pki.client.cert),
        "RUNPLANE_TLS_KEY_FILE": str(pki.client.key),
    }
    env.pop("RUNPLANE_TLS_CA_FILE", None)
    command = [sys.executable, "-m", "runplane.cli", "work-pool", "create", "certificate-only"]
    with anyio.fail_after(60):
        created = await anyio.run_process(command, env=env, check=False)
    assert created.returncode == 0, created.stdout.decode() + created.stderr.decode()
    trusted = _certified_settings(mtls_server, tmp_path, pki)
    async with RunplaneClient(trusted) as client:
        pool = await client.get_work_pool("certificate-only")
    assert pool.name == "certificate-only"


async def test_the_runner_subscribes_with_its_client_certificate(
    mtls_server: RunplaneServer, pki: Pki, tmp_path: Path
) -> None:
    settings = _certified_settings(mtls_server, tmp_path, pki)
    # Runs would start as new processes of this interpreter; none is started here.
    runner = Runner(
        "tls-pool",
        settings=settings,
        handle_signals=False,
        name="tls-runner",
        python=sys.executable,
    )
    async with anyio.create_task_group() as group:
        group.start_soon(runner.run)
        with anyio.fail_after(30):
            await runner.subscribed.wait()
        runner.stop()
    async with RunplaneClient(settings) as client:
        pool = await client.get_work_pool("tls-pool")
    assert pool.name == "tls-pool"


async def test_a_client_ca_without_a_server_certificate_is_refused(
    tmp_path: Path, sqlite_database_url: str
) -> None:
    pki = make_pki(tmp_path / "pki")
    settings = _server_settings(tmp_path, sqlite_database_url, pki, mutual=True).model_copy(
        update={"tls_cert": None, "tls_key": None}
    )
    with pytest.raises(ValueError, match="RUNPLANE_SERVER_TLS_CLIENT_CA"):
        await create_server(settings)
