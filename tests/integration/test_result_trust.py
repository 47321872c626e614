"""A result reference written by one API key is data to its reader, never code or a path.

Another client holding a key of its own writes states whose references name storage the
reader does not trust; the reader's ``state.result()`` refuses them without reading, and a
planted pickle never runs in the reader's process.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from pydantic import SecretStr
from result_support import plant, plant_pickle

from runplane import FlowRun, RunplaneClient, Settings
from runplane._runtime.results import UntrustedResult
from runplane.server import RunplaneServer, ServerSettings, create_server
from runplane.v1 import flow_runs_pb2, flow_runs_pb2_grpc, flows_pb2, flows_pb2_grpc, states_pb2

pytestmark = pytest.mark.anyio

READER_KEY = "reader-key"
WRITER_KEY = "other-key"


@pytest.fixture
async def two_keys(server_settings: ServerSettings) -> AsyncIterator[RunplaneServer]:
    keys = [SecretStr(READER_KEY), SecretStr(WRITER_KEY)]
    async with await create_server(server_settings.model_copy(update={"api_keys": keys})) as s:
        yield s


@pytest.fixture
def reader_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "reader"
    monkeypatch.setenv("RUNPLANE_HOME", str(home))
    monkeypatch.delenv("RUNPLANE_RESULTS_TRUSTED_STORAGE", raising=False)
    return home


async def completed_by_the_other_key(server: RunplaneServer, result: states_pb2.ResultRef) -> str:
    """A run the other key creates and completes with ``result``, through raw stubs."""
    metadata = [("authorization", f"Bearer {WRITER_KEY}")]
    async with grpc.aio.insecure_channel(server.address) as channel:
        flows = flows_pb2_grpc.FlowServiceStub(channel)
        runs = flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        name = f"planted-{uuid.uuid4().hex[:8]}"
        flow = (
            await flows.CreateFlow(flows_pb2.CreateFlowRequest(name=name), metadata=metadata)
        ).flow
        created = flow_runs_pb2.CreateFlowRunRequest(flow_id=flow.id)
        run = (await runs.CreateFlowRun(created, metadata=metadata)).flow_run
        proposal = flow_runs_pb2.SetFlowRunStateRequest(
            flow_run_id=run.id,
            state=states_pb2.State(type=states_pb2.STATE_TYPE_COMPLETED, result=result),
            force=True,
            transition_id=str(uuid.uuid4()),
        )
        answer = (await runs.SetFlowRunState(proposal, metadata=metadata)).result
    assert answer.status == states_pb2.ORCHESTRATION_STATUS_ACCEPT, answer.reason
    return run.id


async def read_as_the_reader(server: RunplaneServer, run_id: str) -> FlowRun:
    settings = Settings(api_url=server.address, api_key=SecretStr(READER_KEY))
    async with RunplaneClient(settings) as reader:
        return await reader.get_flow_run(uuid.UUID(run_id))


async def test_a_planted_pickle_is_refused_and_never_runs_in_the_reader(
    two_keys: RunplaneServer, reader_home: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pickle-ran"
    storage = plant_pickle(tmp_path / "evil", "payload", marker)
    ref = states_pb2.ResultRef(storage=storage, key="payload", serializer="cloudpickle")
    run = await read_as_the_reader(two_keys, await completed_by_the_other_key(two_keys, ref))
    assert run.state is not None
    assert run.state.result_ref is not None
    assert run.state.result_ref.storage == storage
    with pytest.raises(UntrustedResult, match="RUNPLANE_RESULTS_TRUSTED_STORAGE") as refused:
        run.state.result()
    assert storage in str(refused.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("storage", "key"), [("local-file:/etc", "passwd"), ("local-file:{home}/results", "../secret")]
)
async def test_a_json_reference_cannot_read_the_readers_files(
    two_keys: RunplaneServer, reader_home: Path, storage: str, key: str
) -> None:
    plant(reader_home, "secret", b'"the reader\'s secret"')
    ref = states_pb2.ResultRef(storage=storage.format(home=reader_home), key=key, serializer="json")
    run = await read_as_the_reader(two_keys, await completed_by_the_other_key(two_keys, ref))
    assert run.state is not None
    with pytest.raises(UntrustedResult, match=r"not trusted|was not read"):
        run.state.result()


async def test_a_storage_the_reader_trusts_by_setting_is_read(
    two_keys: RunplaneServer,
    reader_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = tmp_path / "shared"
    storage = plant(shared, "value.json", b'{"rows": 3}')
    monkeypatch.setenv("RUNPLANE_RESULTS_TRUSTED_STORAGE", f"local-file:{shared}")
    ref = states_pb2.ResultRef(storage=storage, key="value.json", serializer="json")
    run = await read_as_the_reader(two_keys, await completed_by_the_other_key(two_keys, ref))
    assert run.state is not None
    assert run.state.result() == {"rows": 3}
