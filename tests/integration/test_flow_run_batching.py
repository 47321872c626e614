"""Many concurrent CreateFlowRun and SetFlowRunState calls, applied in group commits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from runplane.server import RunplaneServer
from runplane.v1 import flow_runs_pb2, flow_runs_pb2_grpc, flows_pb2, flows_pb2_grpc, states_pb2

pytestmark = pytest.mark.anyio

T = states_pb2.StateType
ACCEPT = states_pb2.ORCHESTRATION_STATUS_ACCEPT


@dataclass
class Api:
    flows: flows_pb2_grpc.FlowServiceStub
    runs: flow_runs_pb2_grpc.FlowRunServiceStub

    async def flow(self) -> str:
        name = f"batch-{uuid.uuid4().hex[:8]}"
        return (await self.flows.CreateFlow(flows_pb2.CreateFlowRequest(name=name))).flow.id

    async def create(self, flow_id: str) -> str:
        request = flow_runs_pb2.CreateFlowRunRequest(flow_id=flow_id)
        return (await self.runs.CreateFlowRun(request)).flow_run.id

    async def propose(
        self, run_id: str, state_type: int, transition_id: str = ""
    ) -> states_pb2.OrchestrationResult:
        request = flow_runs_pb2.SetFlowRunStateRequest(
            flow_run_id=run_id,
            state=states_pb2.State(type=state_type),  # type: ignore[arg-type]
            transition_id=transition_id or str(uuid.uuid4()),
        )
        return (await self.runs.SetFlowRunState(request)).result

    async def history(self, run_id: str) -> list[int]:
        request = flow_runs_pb2.ListFlowRunStatesRequest(flow_run_id=run_id)
        return [s.type for s in (await self.runs.ListFlowRunStates(request)).states]


@pytest.fixture
async def api(server: RunplaneServer) -> AsyncIterator[Api]:
    async with grpc.aio.insecure_channel(server.address) as channel:
        yield Api(
            flows_pb2_grpc.FlowServiceStub(channel), flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        )


async def test_concurrent_creates_and_proposals_are_each_applied_once(api: Api) -> None:
    flow_id = await api.flow()
    run_ids = await asyncio.gather(*(api.create(flow_id) for _ in range(200)))
    assert len(set(run_ids)) == 200
    running = await asyncio.gather(*(api.propose(r, T.STATE_TYPE_RUNNING) for r in run_ids))
    assert all(result.status == ACCEPT for result in running)
    done = await asyncio.gather(*(api.propose(r, T.STATE_TYPE_COMPLETED) for r in run_ids))
    assert all(result.status == ACCEPT for result in done)
    histories = await asyncio.gather(*(api.history(r) for r in run_ids))
    expected = [T.STATE_TYPE_PENDING, T.STATE_TYPE_RUNNING, T.STATE_TYPE_COMPLETED]
    assert all(history == expected for history in histories)


async def test_two_proposals_for_one_run_at_once_are_decided_one_after_the_other(
    api: Api,
) -> None:
    request = flow_runs_pb2.CreateFlowRunRequest(
        flow_id=await api.flow(), state=states_pb2.State(type=T.STATE_TYPE_SCHEDULED)
    )
    run_ids = [(await api.runs.CreateFlowRun(request)).flow_run.id for _ in range(30)]
    # Sent together, most pairs reach the server while a batch is being written.
    answers = await asyncio.gather(
        *(api.propose(r, T.STATE_TYPE_PENDING) for r in run_ids for _ in range(2))
    )
    # Decided against the same snapshot, both proposals of a pair would start the run.
    for pair in zip(answers[::2], answers[1::2], strict=True):
        statuses = sorted(answer.status for answer in pair)
        assert statuses == [ACCEPT, states_pb2.ORCHESTRATION_STATUS_ABORT]
    histories = await asyncio.gather(*(api.history(r) for r in run_ids))
    assert all(h == [T.STATE_TYPE_SCHEDULED, T.STATE_TYPE_PENDING] for h in histories)


async def test_the_same_transition_id_at_once_is_applied_once(api: Api) -> None:
    flow_id = await api.flow()
    run_ids = await asyncio.gather(*(api.create(flow_id) for _ in range(20)))
    transition_ids = {r: str(uuid.uuid4()) for r in run_ids}
    answers = await asyncio.gather(
        *(api.propose(r, T.STATE_TYPE_RUNNING, transition_ids[r]) for r in run_ids for _ in "abc")
    )
    assert all(answer.status == ACCEPT for answer in answers)
    for index in range(0, len(answers), 3):
        assert len({answer.state.id for answer in answers[index : index + 3]}) == 1
    histories = await asyncio.gather(*(api.history(r) for r in run_ids))
    assert all(h == [T.STATE_TYPE_PENDING, T.STATE_TYPE_RUNNING] for h in histories)


async def test_an_unknown_run_fails_alone_among_good_proposals(api: Api) -> None:
    flow_id = await api.flow()
    run_ids = await asyncio.gather(*(api.create(flow_id) for _ in range(20)))
    missing = str(uuid.uuid4())
    proposals = [api.propose(r, T.STATE_TYPE_RUNNING) for r in run_ids]
    proposals.insert(10, api.propose(missing, T.STATE_TYPE_RUNNING))
    answers = await asyncio.gather(*proposals, return_exceptions=True)
    error = answers.pop(10)
    assert isinstance(error, grpc.aio.AioRpcError)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert missing in (error.details() or "")
    assert all(
        isinstance(answer, states_pb2.OrchestrationResult) and answer.status == ACCEPT
        for answer in answers
    )


async def test_an_unknown_flow_fails_alone_among_good_creates(api: Api) -> None:
    flow_id = await api.flow()
    missing = str(uuid.uuid4())
    creates = [api.create(flow_id) for _ in range(10)]
    creates.insert(5, api.create(missing))
    answers = await asyncio.gather(*creates, return_exceptions=True)
    error = answers.pop(5)
    assert isinstance(error, grpc.aio.AioRpcError)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert all(isinstance(answer, str) for answer in answers)
    histories = await asyncio.gather(*(api.history(str(a)) for a in answers))
    assert all(history == [T.STATE_TYPE_PENDING] for history in histories)


async def test_a_flow_deleted_after_its_runs_were_created_fails_alone_among_good_creates(
    api: Api,
) -> None:
    deleted, kept = await api.flow(), await api.flow()
    await asyncio.gather(api.create(deleted), api.create(kept))  # the server has seen both
    await api.flows.DeleteFlow(flows_pb2.DeleteFlowRequest(flow_id=deleted))
    creates = [api.create(kept) for _ in range(10)]
    creates.insert(5, api.create(deleted))
    answers = await asyncio.gather(*creates, return_exceptions=True)
    error = answers.pop(5)
    assert isinstance(error, grpc.aio.AioRpcError)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert all(isinstance(answer, str) for answer in answers)
    # Creates after the failed batch, and of the deleted flow again, are answered as before.
    assert isinstance(await api.create(kept), str)
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await api.create(deleted)
    assert again.value.code() == grpc.StatusCode.NOT_FOUND


async def test_watchers_get_one_event_per_written_state(api: Api) -> None:
    flow_id = await api.flow()
    first = await api.create(flow_id)
    request = flow_runs_pb2.WatchFlowRunsRequest(
        filter=flow_runs_pb2.FlowRunFilter(flow_ids=[flow_id]), include_current=True
    )
    stream = api.runs.WatchFlowRuns(request)
    # The current state arrives after the stream subscribed to changes.
    assert (await asyncio.wait_for(stream.read(), timeout=5)).flow_run.id == first
    run_ids = await asyncio.gather(*(api.create(flow_id) for _ in range(10)))
    await asyncio.gather(*(api.propose(r, T.STATE_TYPE_RUNNING) for r in run_ids))
    seen: list[tuple[str, int]] = []
    for _ in range(20):
        message = await asyncio.wait_for(stream.read(), timeout=5)
        assert isinstance(message, flow_runs_pb2.WatchFlowRunsResponse)
        seen.append((message.flow_run.id, message.state.type))
    stream.cancel()
    expected = [(r, t) for r in run_ids for t in (T.STATE_TYPE_PENDING, T.STATE_TYPE_RUNNING)]
    assert sorted(seen) == sorted(expected)
