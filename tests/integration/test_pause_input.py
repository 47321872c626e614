"""A flow run paused for input, through the protocol: the pause's JSON Schema is stored
with the PAUSED state, and a resume must bring input valid against it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import grpc
import pytest
from delivery_support import ManualClock, serving

from runplane.server import ServerSettings
from runplane.v1 import flow_runs_pb2, flow_runs_pb2_grpc, flows_pb2, flows_pb2_grpc, states_pb2

pytestmark = pytest.mark.anyio

T = states_pb2.StateType
Status = states_pb2.OrchestrationStatus

SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {
            "approved": {"type": "boolean"},
            "reviewers": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["approved"],
    }
)


@dataclass
class Api:
    runs: flow_runs_pb2_grpc.FlowRunServiceStub
    flows: flows_pb2_grpc.FlowServiceStub
    clock: ManualClock

    async def running(self) -> str:
        """A new flow run, RUNNING."""
        name = f"review-{uuid.uuid4().hex[:8]}"
        flow = (await self.flows.CreateFlow(flows_pb2.CreateFlowRequest(name=name))).flow
        request = flow_runs_pb2.CreateFlowRunRequest(flow_id=flow.id)
        run = (await self.runs.CreateFlowRun(request)).flow_run
        assert (await self.propose(run.id, states_pb2.State(type=T.STATE_TYPE_RUNNING))).status == (
            Status.ORCHESTRATION_STATUS_ACCEPT
        )
        return run.id

    async def pause(self, run_id: str, schema: str = SCHEMA) -> states_pb2.OrchestrationResult:
        paused = states_pb2.State(type=T.STATE_TYPE_PAUSED, name="Paused")
        paused.details.pause_deadline.FromDatetime(self.clock.now() + timedelta(hours=1))
        paused.details.pause_input_schema_json = schema
        return await self.propose(run_id, paused)

    async def resume(self, run_id: str, input_json: str = "") -> states_pb2.OrchestrationResult:
        resumed = states_pb2.State(type=T.STATE_TYPE_RUNNING, message="resumed")
        resumed.details.resume_input_json = input_json
        return await self.propose(run_id, resumed)

    async def propose(self, run_id: str, state: states_pb2.State) -> states_pb2.OrchestrationResult:
        request = flow_runs_pb2.SetFlowRunStateRequest(
            flow_run_id=run_id, state=state, transition_id=str(uuid.uuid4())
        )
        return (await self.runs.SetFlowRunState(request)).result

    async def state(self, run_id: str) -> states_pb2.State:
        request = flow_runs_pb2.GetFlowRunRequest(flow_run_id=run_id)
        return (await self.runs.GetFlowRun(request)).flow_run.state


@pytest.fixture
async def api(server_settings: ServerSettings) -> AsyncIterator[Api]:
    clock = ManualClock()
    async with serving(server_settings, clock) as (_, channel):
        yield Api(
            flow_runs_pb2_grpc.FlowRunServiceStub(channel),
            flows_pb2_grpc.FlowServiceStub(channel),
            clock,
        )


async def invalid(call: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    return caught.value.details() or ""


async def test_the_schema_is_stored_with_the_paused_state(api: Api) -> None:
    run_id = await api.running()
    result = await api.pause(run_id)
    assert result.status == Status.ORCHESTRATION_STATUS_ACCEPT
    state = await api.state(run_id)
    assert state.type == T.STATE_TYPE_PAUSED
    assert json.loads(state.details.pause_input_schema_json) == json.loads(SCHEMA)


async def test_a_resume_without_input_is_refused_and_the_run_stays_paused(api: Api) -> None:
    run_id = await api.running()
    await api.pause(run_id)
    details = await invalid(api.resume(run_id))
    assert "state.details.resume_input_json" in details
    assert "waiting for input" in details
    assert (await api.state(run_id)).type == T.STATE_TYPE_PAUSED


@pytest.mark.parametrize(
    ("input_json", "path", "problem"),
    [
        ('{"reviewers": ["ann"]}', "state.details.resume_input_json", "'approved' is a required"),
        ('{"approved": "yes"}', "state.details.resume_input.approved", "is not of type 'boolean'"),
        (
            '{"approved": true, "reviewers": ["ann", 7]}',
            "state.details.resume_input.reviewers[1]",
            "is not of type 'string'",
        ),
        ("[1, 2]", "state.details.resume_input_json", "is not of type 'object'"),
        ('{"approved": tru', "state.details.resume_input", ""),
    ],
)
async def test_invalid_input_names_its_path_and_the_run_stays_paused(
    api: Api, input_json: str, path: str, problem: str
) -> None:
    run_id = await api.running()
    await api.pause(run_id)
    details = await invalid(api.resume(run_id, input_json))
    assert details.startswith(path), details
    assert problem in details
    assert (await api.state(run_id)).type == T.STATE_TYPE_PAUSED


async def test_valid_input_resumes_and_travels_with_the_running_state(api: Api) -> None:
    run_id = await api.running()
    await api.pause(run_id)
    text = '{"approved": true, "reviewers": ["ann"]}'
    result = await api.resume(run_id, text)
    assert result.status == Status.ORCHESTRATION_STATUS_ACCEPT
    assert result.state.type == T.STATE_TYPE_RUNNING
    assert result.state.details.resume_input_json == text
    assert (await api.state(run_id)).details.resume_input_json == text


async def test_a_pause_without_a_schema_resumes_without_input(api: Api) -> None:
    run_id = await api.running()
    await api.pause(run_id, schema="")
    result = await api.resume(run_id)
    assert result.status == Status.ORCHESTRATION_STATUS_ACCEPT


async def test_past_the_deadline_the_run_fails_whatever_the_input(api: Api) -> None:
    run_id = await api.running()
    await api.pause(run_id)
    api.clock.advance(3601)
    result = await api.resume(run_id)
    assert result.status == Status.ORCHESTRATION_STATUS_REJECT
    assert result.state.type == T.STATE_TYPE_FAILED


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ("[]", "must be a JSON Schema: a JSON object"),
        ('{"type": 5}', "is not a valid JSON Schema"),
        ("{", ""),
    ],
)
async def test_a_bad_schema_is_refused(api: Api, schema: str, problem: str) -> None:
    run_id = await api.running()
    details = await invalid(api.pause(run_id, schema))
    assert details.startswith("state.details.pause_input_schema"), details
    assert problem in details
    assert (await api.state(run_id)).type == T.STATE_TYPE_RUNNING


async def test_input_fields_belong_to_their_own_state_types(api: Api) -> None:
    run_id = await api.running()
    scheduled = states_pb2.State(type=T.STATE_TYPE_SCHEDULED)
    scheduled.details.pause_input_schema_json = SCHEMA
    details = await invalid(api.propose(run_id, scheduled))
    assert "pause_input_schema_json: is only allowed on a PAUSED state" in details
    completed = states_pb2.State(type=T.STATE_TYPE_COMPLETED)
    completed.details.resume_input_json = "{}"
    details = await invalid(api.propose(run_id, completed))
    assert "resume_input_json: is only allowed on a RUNNING state" in details


@pytest.mark.parametrize(
    "schema",
    [
        '{"$ref": "https://example.com/elsewhere.json"}',
        '{"$defs": {"loop": {"$ref": "#/$defs/loop"}}, "$ref": "#/$defs/loop"}',
    ],
)
async def test_a_schema_that_cannot_be_checked_refuses_every_input(api: Api, schema: str) -> None:
    run_id = await api.running()
    assert (await api.pause(run_id, schema)).status == Status.ORCHESTRATION_STATUS_ACCEPT
    details = await invalid(api.resume(run_id, "{}"))
    assert "cannot be checked against the schema" in details
    assert (await api.state(run_id)).type == T.STATE_TYPE_PAUSED
