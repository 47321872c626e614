"""The typed client against a real server: models in, models out, errors mapped."""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import pytest

from runplane import (
    FlowRunFilter,
    InvalidArgument,
    NotFound,
    OrchestrationStatus,
    RunplaneClient,
    Settings,
    State,
    StateType,
    get_client,
)
from runplane.server import RunplaneServer

pytestmark = pytest.mark.anyio


def settings_for(server: RunplaneServer, tmp_path: Path) -> Settings:
    return Settings(api_url=server.address, home=tmp_path)


async def test_a_run_goes_through_its_lifecycle(server: RunplaneServer, tmp_path: Path) -> None:
    async with RunplaneClient(settings_for(server, tmp_path)) as client:
        flow = await client.create_flow(f"client-{uuid.uuid4().hex[:8]}")
        run = await client.create_flow_run(flow.id, parameters={"n": 3, "nested": {"a": [1, 2]}})
        assert run.state is not None
        assert run.state.type is StateType.PENDING
        running = await client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
        assert running.status is OrchestrationStatus.ACCEPT
        done = await client.set_flow_run_state(run.id, State(type=StateType.COMPLETED))
        assert done.status is OrchestrationStatus.ACCEPT
        stored = await client.get_flow_run(run.id)
        assert stored.parameters == {"n": 3, "nested": {"a": [1, 2]}}
        assert stored.state is not None
        assert stored.state.type is StateType.COMPLETED
        assert stored.run_count == 1
        history = await client.list_flow_run_states(run.id)
        assert [s.type for s in history] == [
            StateType.PENDING,
            StateType.RUNNING,
            StateType.COMPLETED,
        ]
        listed = await client.list_flow_runs(FlowRunFilter(flow_ids=(flow.id,)))
        assert [r.id for r in listed] == [run.id]


async def test_a_repeated_transition_id_is_applied_once(
    server: RunplaneServer, tmp_path: Path
) -> None:
    async with RunplaneClient(settings_for(server, tmp_path)) as client:
        flow = await client.create_flow(f"client-{uuid.uuid4().hex[:8]}")
        run = await client.create_flow_run(flow.id)
        transition_id = uuid.uuid4()
        first = await client.set_flow_run_state(
            run.id, State(type=StateType.RUNNING), transition_id=transition_id
        )
        again = await client.set_flow_run_state(
            run.id, State(type=StateType.RUNNING), transition_id=transition_id
        )
        assert first.state is not None
        assert again.state is not None
        assert again.state.id == first.state.id
        assert len(await client.list_flow_run_states(run.id)) == 2


async def test_errors_are_typed(server: RunplaneServer, tmp_path: Path) -> None:
    async with RunplaneClient(settings_for(server, tmp_path)) as client:
        with pytest.raises(NotFound):
            await client.get_flow_run(uuid.uuid4())
        with pytest.raises(InvalidArgument) as invalid:
            await client.create_flow("")
        assert invalid.value.field == "name"


async def test_the_blocking_client_works_from_a_thread(
    server: RunplaneServer, tmp_path: Path
) -> None:
    def use_blocking_client() -> StateType | None:
        with get_client(sync_client=True, settings=settings_for(server, tmp_path)) as client:
            flow = client.create_flow(f"sync-{uuid.uuid4().hex[:8]}")
            run = client.create_flow_run(flow.id)
            result = client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
            return result.state.type if result.state else None

    assert await anyio.to_thread.run_sync(use_blocking_client) is StateType.RUNNING


async def test_work_pools_and_queues_change_only_the_given_fields(
    server: RunplaneServer, tmp_path: Path
) -> None:
    async with RunplaneClient(settings_for(server, tmp_path)) as client:
        name = f"client-{uuid.uuid4().hex[:8]}"
        await client.create_work_pool(name, description="gpu boxes", concurrency_limit=4)
        paused = await client.update_work_pool(name, paused=True)
        assert (paused.paused, paused.description, paused.concurrency_limit) == (
            True,
            "gpu boxes",
            4,
        )
        raised = await client.update_work_pool(name, concurrency_limit=8, paused=False)
        assert (raised.paused, raised.concurrency_limit) == (False, 8)
        cleared = await client.update_work_pool(name, concurrency_limit=None)
        assert cleared.concurrency_limit is None
        assert await client.get_work_pool(name) == cleared

        await client.create_work_queue(name, "bulk", priority=5, concurrency_limit=2)
        queue = await client.update_work_queue(name, "bulk", priority=1, paused=True)
        assert (queue.priority, queue.paused, queue.concurrency_limit) == (1, True, 2)
        queue = await client.update_work_queue(name, "bulk", concurrency_limit=None)
        assert (queue.priority, queue.paused, queue.concurrency_limit) == (1, True, None)
        assert (await client.list_work_queues(name))[0] == queue

        with pytest.raises(ValueError, match="at least one field"):
            await client.update_work_pool(name)
        with pytest.raises(NotFound):
            await client.update_work_pool(f"{name}-missing", paused=True)
        with pytest.raises(NotFound):
            await client.update_work_queue(name, "missing", paused=True)
        with pytest.raises(InvalidArgument) as invalid:
            await client.update_work_pool(name, concurrency_limit=-1)
        assert invalid.value.field == "work_pool.concurrency_limit"
