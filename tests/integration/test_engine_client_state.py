"""What the engine knows about an API lives on that API's client and goes away with it."""

from __future__ import annotations

import gc
import uuid
import weakref

from engine_support import engine_api, log_messages, wait_until

from runplane import SyncRunplaneClient, flow, get_run_logger, tags, task
from runplane._engine.client import EngineClient, engine_client, reset_engine_client
from runplane._runtime.context import current_run_ids

__all__ = ["engine_api"]


@flow
def logs_something() -> uuid.UUID | None:
    get_run_logger().info("hello from the run")
    return current_run_ids()[0]


def test_a_closed_engine_client_is_not_kept_alive(engine_api: SyncRunplaneClient) -> None:
    flow_run_id = logs_something()  # registers the flow, installs log shipping
    first = engine_client()
    assert first.flow_id(logs_something.name) is not None
    gone = weakref.ref(first)
    del first
    reset_engine_client()
    gc.collect()
    assert gone() is None, gc.get_referrers(gone())
    # Its logs were sent before it closed.
    assert "hello from the run" in log_messages(engine_api, flow_run_id)


def test_a_new_engine_client_starts_from_nothing(engine_api: SyncRunplaneClient) -> None:
    logs_something()
    old = engine_client()
    registered = old.flow_id(logs_something.name)
    reset_engine_client()
    # The flow is deleted behind the engine's back: a client that remembered its id would
    # create runs of a flow that no longer exists.
    engine_api.delete_flow(registered)
    fresh = engine_client()
    assert fresh is not old
    assert isinstance(fresh, EngineClient)
    run = logs_something(return_state=True)
    assert run.is_completed()
    assert fresh.flow_id(logs_something.name) != registered
    wait_until(lambda: engine_api.get_flow(fresh.flow_id(logs_something.name)) is not None)


def test_task_hooks_see_the_tags_recorded(engine_api: SyncRunplaneClient) -> None:
    seen: list[tuple[str, ...]] = []

    @task(tags=["static"], on_completion=[lambda task, run, state: seen.append(run.tags)])
    def tagged() -> int:
        return 1

    @flow
    def with_tags() -> int:
        with tags("added"):
            return tagged()

    assert with_tags() == 1
    assert seen == [("static", "added")]
