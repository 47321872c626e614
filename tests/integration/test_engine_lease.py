"""A run's engine stops at once, reporting nothing, when the server says its lease is gone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import grpc
import pytest
from delivery_support import create_deployment, get_run, next_item, run_deployment, subscribe

from runplane import OrchestrationResult, OrchestrationStatus, State, StateType, flow
from runplane._engine.client import engine_client, reset_engine_client
from runplane._engine.errors import LeaseLost
from runplane.engine import run_flow_run
from runplane.server import RunplaneServer
from runplane.v1 import states_pb2

pytestmark = pytest.mark.anyio

calls: list[str] = []


def _note(flow: Any, flow_run: Any, state: Any) -> None:
    calls.append(f"hook {state.type.value}")


@flow(on_running=[_note], on_completion=[_note], on_failure=[_note], on_crashed=[_note])
def leased() -> str:
    calls.append("body")
    return "done"


@pytest.fixture(autouse=True)
def _engine_env(
    server: RunplaneServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("RUNPLANE_API_URL", server.address)
    monkeypatch.setenv("RUNPLANE_HOME", str(tmp_path / "home"))
    reset_engine_client()
    calls.clear()
    yield
    reset_engine_client()


@pytest.fixture
async def channel(server: RunplaneServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as opened:
        yield opened


async def _assigned(channel: grpc.aio.Channel) -> tuple[str, str]:
    """A run of a deployment claimed by a raw subscriber: its id and its lease."""
    deployment = await create_deployment(channel, "lease-pool")
    run = await run_deployment(channel, deployment.id)
    stream, _ = await subscribe(channel, "lease-pool", 1)
    item = await next_item(stream)
    stream.cancel()
    assert item.assignment.flow_run.id == run.id
    return run.id, item.assignment.lease_id


async def test_a_start_under_a_foreign_lease_stops_without_running_or_reporting(
    channel: grpc.aio.Channel,
) -> None:
    run_id, lease = await _assigned(channel)
    with pytest.raises(LeaseLost, match="lease"):
        await anyio.to_thread.run_sync(run_flow_run, uuid.UUID(run_id), leased, uuid.uuid4())
    stored = await get_run(channel, run_id)
    # Nothing ran and nothing was reported: the run waits for the runner that holds it.
    assert calls == []
    assert stored.state.type == states_pb2.STATE_TYPE_PENDING
    assert stored.state.details.lease_id == lease


async def test_a_final_proposal_refused_for_the_lease_reports_nothing_more(
    channel: grpc.aio.Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id, lease = await _assigned(channel)
    client = engine_client()
    propose = client.set_flow_run_state

    def refuse_the_end(run: uuid.UUID, state: State, **options: Any) -> OrchestrationResult:
        # What the server answers once the run has moved under another runner's lease.
        if state.type is StateType.RUNNING:
            return propose(run, state, **options)
        reason = "the lease presented is not the run's current lease"
        return OrchestrationResult(status=OrchestrationStatus.ABORT, reason=reason)

    monkeypatch.setattr(client, "set_flow_run_state", refuse_the_end)
    with pytest.raises(LeaseLost, match="lease"):
        await anyio.to_thread.run_sync(run_flow_run, uuid.UUID(run_id), leased, uuid.UUID(lease))
    stored = await get_run(channel, run_id)
    # No completion, failure or crash hook and no crash report after the refusal.
    assert calls == ["hook RUNNING", "body"]
    assert stored.state.type == states_pb2.STATE_TYPE_RUNNING
