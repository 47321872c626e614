"""A background run cancelled while a task worker runs it ends CANCELLED, and its future
raises instead of returning."""

from __future__ import annotations

import asyncio

import pytest
from engine_support import engine_api, wait_until
from task_worker_support import worker_thread

from runplane import StateType, SyncRunplaneClient, task
from runplane._engine.states import make_state
from runplane.server import ServerSettings

__all__ = ["engine_api"]


@pytest.fixture
def server_settings(server_settings: ServerSettings) -> ServerSettings:
    # A short heartbeat timeout makes the worker heartbeat every half second.
    return server_settings.model_copy(update={"heartbeat_timeout": 1.5})


@task
async def wait_forever() -> None:
    await asyncio.Event().wait()


def test_cancelling_a_running_background_run_stops_it(engine_api: SyncRunplaneClient) -> None:
    with worker_thread(wait_forever):
        future = wait_forever.delay()

        def running() -> bool:
            state = engine_api.get_task_run(future.task_run_id).state
            return state is not None and state.type is StateType.RUNNING

        wait_until(running)
        engine_api.set_task_run_state(future.task_run_id, make_state(StateType.CANCELLING))
        final = future.wait(timeout=20)
        assert final is not None
        assert final.type is StateType.CANCELLED
        with pytest.raises(Exception, match="cancelled"):
            future.result(timeout=1)
