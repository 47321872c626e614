"""With API keys configured, every call but health checks needs a valid bearer key."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path
from uuid import UUID

import anyio
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import SecretStr

from runplane import (
    FlowRunChange,
    FlowRunFilter,
    LogFilter,
    LogRecord,
    RunplaneClient,
    Settings,
    SubscriptionStarted,
    Unauthenticated,
)
from runplane.server import RunplaneServer, ServerSettings, SettingsError, create_server
from runplane.v1 import flows_pb2, flows_pb2_grpc

pytestmark = pytest.mark.anyio

KEY = "s3cret-key"


@pytest.fixture
async def guarded(server_settings: ServerSettings) -> AsyncIterator[RunplaneServer]:
    settings = server_settings.model_copy(update={"api_keys": [SecretStr(KEY)]})
    async with await create_server(settings) as running:
        yield running


@pytest.mark.parametrize("metadata", [None, ("authorization", "Bearer wrong"), ("x", "y")])
async def test_a_call_without_the_key_is_refused_and_runs_nothing(
    guarded: RunplaneServer, metadata: tuple[str, str] | None
) -> None:
    async with grpc.aio.insecure_channel(guarded.address) as channel:
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await flows.CreateFlow(
                flows_pb2.CreateFlowRequest(name="not-created"),
                metadata=[metadata] if metadata else None,
            )
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert KEY not in (refused.value.details() or "")
        allowed = [("authorization", f"Bearer {KEY}")]
        missing = flows.GetFlow(flows_pb2.GetFlowRequest(name="not-created"), metadata=allowed)
        with pytest.raises(grpc.aio.AioRpcError) as not_found:
            await missing
        assert not_found.value.code() is grpc.StatusCode.NOT_FOUND


async def test_health_needs_no_key(guarded: RunplaneServer) -> None:
    async with grpc.aio.insecure_channel(guarded.address) as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_the_client_sends_its_key(guarded: RunplaneServer, tmp_path: Path) -> None:
    base = Settings(api_url=guarded.address, home=tmp_path)
    async with RunplaneClient(base) as anonymous:
        with pytest.raises(Unauthenticated):
            await anonymous.list_flow_runs(FlowRunFilter())
    keyed = Settings(api_url=guarded.address, home=tmp_path, api_key=SecretStr(KEY))
    async with RunplaneClient(keyed) as client:
        flow = await client.create_flow("keyed")
    assert flow.name == "keyed"


def _settings(server: RunplaneServer, home: Path, key: str) -> Settings:
    return Settings(api_url=server.address, home=home, api_key=SecretStr(key))


async def _run_with_a_log(client: RunplaneClient) -> UUID:
    flow = await client.create_flow("streamed")
    run = await client.create_flow_run(flow.id)
    await client.write_logs([LogRecord(flow_run_id=run.id, level=20, message="hello")])
    return run.id


async def _first(stream: AsyncGenerator[object, None]) -> object:
    async with aclosing(stream):
        with anyio.fail_after(10):
            return await anext(stream)


OpenStream = Callable[[RunplaneClient, UUID], AsyncGenerator[object, None]]

# Each server-streaming call, and the type of the first item it yields.
STREAMS: dict[str, tuple[OpenStream, type]] = {
    "watch": (
        lambda c, run_id: c.watch_flow_runs(
            FlowRunFilter(flow_run_ids=(run_id,)), include_current=True
        ),
        FlowRunChange,
    ),
    "follow": (lambda c, run_id: c.follow_logs(LogFilter(flow_run_id=run_id)), LogRecord),
    "subscribe": (
        lambda c, _: c.subscribe_work("keyed-pool", runner_name="keyed-runner"),
        SubscriptionStarted,
    ),
}


@pytest.mark.parametrize("stream", sorted(STREAMS))
async def test_streams_carry_the_key(guarded: RunplaneServer, tmp_path: Path, stream: str) -> None:
    open_stream, first_type = STREAMS[stream]
    async with RunplaneClient(_settings(guarded, tmp_path, KEY)) as client:
        run_id = await _run_with_a_log(client)
        assert isinstance(await _first(open_stream(client, run_id)), first_type)
    async with RunplaneClient(_settings(guarded, tmp_path, "wrong")) as client:
        with pytest.raises(Unauthenticated):
            await _first(open_stream(client, run_id))


# The blocking client in a process of its own, as in a user's program: grpc.aio keeps one
# poller per process, which must not serve the test's event loop and the client's at once.
BLOCKING_WATCH = """
from runplane import FlowRunFilter, SyncRunplaneClient, Unauthenticated

try:
    with SyncRunplaneClient() as client:
        run = client.create_flow_run(client.create_flow("blocking").id)
        only_it = FlowRunFilter(flow_run_ids=(run.id,))
        changes = client.watch_flow_runs(only_it, include_current=True)
        change = next(changes)
        changes.close()
        print("watched" if change.flow_run.id == run.id else "another run")
except Unauthenticated:
    print("unauthenticated")
"""


async def _blocking_watch(server: RunplaneServer, home: Path, key: str) -> str:
    env = {**os.environ, "RUNPLANE_API_URL": server.address, "RUNPLANE_HOME": str(home)}
    env["RUNPLANE_API_KEY"] = key
    with anyio.fail_after(60):
        done = await anyio.run_process([sys.executable, "-c", BLOCKING_WATCH], env=env)
    return done.stdout.decode().strip()


async def test_the_blocking_client_sends_its_key_on_calls_and_streams(
    guarded: RunplaneServer, tmp_path: Path
) -> None:
    assert await _blocking_watch(guarded, tmp_path, KEY) == "watched"
    assert await _blocking_watch(guarded, tmp_path, "wrong") == "unauthenticated"


FILE_KEY = "from-the-file-k3y"
WRONG = "not-a-key-at-all"
KEY_FILE = f"""# keys of the control plane, one a line

{FILE_KEY}
   # an indented comment
"""


def _key_file(folder: Path, text: str = KEY_FILE) -> Path:
    path = folder / "api-keys"
    path.write_text(text)
    return path


async def _status_of_create_flow(address: str, authorization: str) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(address) as channel:
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        try:
            await flows.CreateFlow(
                flows_pb2.CreateFlowRequest(name="from-a-key-file"),
                metadata=[("authorization", authorization)],
                timeout=10,
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def test_keys_of_the_file_are_accepted_beside_the_listed_ones(
    server_settings: ServerSettings, tmp_path: Path
) -> None:
    settings = server_settings.model_copy(
        update={"api_keys": [SecretStr(KEY)], "api_keys_file": _key_file(tmp_path)}
    )
    expected = {
        f"Bearer {FILE_KEY}": grpc.StatusCode.OK,
        f"Bearer {KEY}": grpc.StatusCode.OK,
        f"Bearer {WRONG}": grpc.StatusCode.UNAUTHENTICATED,
        # A comment or a blank line would be accepted if it were read as a key.
        "Bearer # an indented comment": grpc.StatusCode.UNAUTHENTICATED,
        "Bearer ": grpc.StatusCode.UNAUTHENTICATED,
    }
    async with await create_server(settings) as running:
        answered = {
            authorization: await _status_of_create_flow(running.address, authorization)
            for authorization in expected
        }
    assert answered == expected


@pytest.mark.parametrize(
    ("make_path", "reason"),
    [
        (lambda folder: folder / "missing", "No such file or directory"),
        (lambda folder: folder, "Is a directory"),
        (lambda folder: _key_file(folder, "# only a comment\n\n"), "holds no key"),
    ],
    ids=["missing", "a-directory", "no-key"],
)
async def test_a_key_file_that_gives_no_key_stops_startup_before_the_database(
    tmp_path: Path, make_path: Callable[[Path], Path], reason: str
) -> None:
    database = tmp_path / "runplane.db"
    settings = ServerSettings(
        home=tmp_path,
        database_url=f"sqlite+aiosqlite:///{database}",
        port=0,
        # Keys listed as well must not let the server start without the file's.
        api_keys=[SecretStr(KEY)],
        api_keys_file=make_path(tmp_path),
    )
    with pytest.raises(SettingsError, match="RUNPLANE_SERVER_API_KEYS_FILE") as stopped:
        await create_server(settings)
    assert reason in str(stopped.value)
    # Raised on its own: what an operator sees is this message, not a chain of errors.
    assert stopped.value.__suppress_context__ or stopped.value.__context__ is None
    assert not database.exists()


async def _calls_with_right_and_wrong_keys(server: RunplaneServer, home: Path) -> list[str]:
    """Calls and a stream with each accepted key, then with a wrong one; returns what the
    refused client was told."""
    for key in (FILE_KEY, KEY):
        async with RunplaneClient(_settings(server, home, key)) as c:
            run_id = await _run_with_a_log(c)
            assert isinstance(await _first(STREAMS["watch"][0](c, run_id)), FlowRunChange)
    async with RunplaneClient(_settings(server, home, WRONG)) as client:
        with pytest.raises(Unauthenticated) as refused:
            await client.list_flow_runs(FlowRunFilter())
    async with grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raw:
            await flows_pb2_grpc.FlowServiceStub(channel).CreateFlow(
                flows_pb2.CreateFlowRequest(name="refused"),
                metadata=[("authorization", f"Bearer {WRONG}")],
            )
    assert raw.value.code() is grpc.StatusCode.UNAUTHENTICATED
    return [str(refused.value), repr(refused.value), raw.value.details() or "", str(raw.value)]


async def test_no_key_reaches_the_logs_or_the_refusal(
    server_settings: ServerSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in (None, "grpc", "runplane"):
        caplog.set_level(logging.DEBUG, logger=name)
    settings = server_settings.model_copy(
        update={"api_keys": [SecretStr(KEY)], "api_keys_file": _key_file(tmp_path)}
    )
    async with await create_server(settings) as running:
        told = await _calls_with_right_and_wrong_keys(running, tmp_path)
    assert any("2 API keys" in record.getMessage() for record in caplog.records)
    secrets = (KEY, FILE_KEY, WRONG)
    # Everything a record holds, its arguments and extra fields included, and the records as
    # formatted, tracebacks included.
    leaks = [
        (record.name, record.levelname, secret)
        for record in caplog.records
        for secret in secrets
        if secret in f"{record.getMessage()} {vars(record)}"
    ]
    assert leaks == []
    assert [secret for secret in secrets if secret in caplog.text] == []
    assert [secret for secret in secrets if any(secret in text for text in told)] == []


SERVER_START = [sys.executable, "-m", "runplane.cli", "server", "start", "--log-level", "DEBUG"]


def _server_environment(home: Path, **variables: str) -> dict[str, str]:
    env = {**os.environ, "RUNPLANE_HOME": str(home), **variables}
    for name in (
        "RUNPLANE_DATABASE_URL",
        "RUNPLANE_SERVER_API_KEYS",
        "RUNPLANE_SERVER_API_KEYS_FILE",
    ):
        if name not in variables:
            env.pop(name, None)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(channel: grpc.Channel, process: subprocess.Popen[bytes]) -> None:
    """Asks the health check until it answers; fails if the process ends or 60 s pass."""
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 60
    while process.poll() is None and (remaining := deadline - time.monotonic()) > 0:
        try:
            # Waits for the port to accept connections, up to the timeout.
            health.Check(
                health_pb2.HealthCheckRequest(), timeout=min(remaining, 2), wait_for_ready=True
            )
            return
        except grpc.RpcError:
            continue
    pytest.fail(f"the server did not serve (exit code {process.poll()})")


def _create_flow_status(channel: grpc.Channel, key: str) -> grpc.StatusCode:
    flows = flows_pb2_grpc.FlowServiceStub(channel)
    request = flows_pb2.CreateFlowRequest(name="over-the-cli")
    try:
        flows.CreateFlow(request, metadata=[("authorization", f"Bearer {key}")], timeout=10)
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return]  # a grpc.Call as well
    return grpc.StatusCode.OK


def test_server_start_shows_none_of_the_keys(tmp_path: Path) -> None:
    port = _free_port()
    env = _server_environment(
        tmp_path,
        RUNPLANE_SERVER_API_KEYS=f"{KEY},second-{KEY}",
        RUNPLANE_SERVER_API_KEYS_FILE=str(_key_file(tmp_path)),
    )
    output = tmp_path / "output.txt"
    with (
        output.open("wb") as sink,
        subprocess.Popen(
            [*SERVER_START, "--port", str(port)], env=env, stdout=sink, stderr=subprocess.STDOUT
        ) as process,
    ):
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                _wait_until_serving(channel, process)
                assert _create_flow_status(channel, FILE_KEY) is grpc.StatusCode.OK
                assert _create_flow_status(channel, WRONG) is grpc.StatusCode.UNAUTHENTICATED
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
    shown = output.read_text()
    assert "3 API keys" in shown
    assert "shutting down" in shown
    assert [key for key in (KEY, FILE_KEY, WRONG) if key in shown] == []


def test_server_start_with_a_missing_key_file_names_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "missing-keys"
    env = _server_environment(
        tmp_path, RUNPLANE_SERVER_API_KEYS=KEY, RUNPLANE_SERVER_API_KEYS_FILE=str(missing)
    )
    finished = subprocess.run(
        [*SERVER_START, "--port", "0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 2
    assert f"error: RUNPLANE_SERVER_API_KEYS_FILE: cannot read {missing}" in finished.stderr
    assert "Traceback" not in finished.stdout + finished.stderr
    assert KEY not in finished.stdout + finished.stderr
