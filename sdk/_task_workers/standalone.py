"""A task called outside any flow run: recorded as a task run of its own, then called."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from runplane._client.states import StateType
from runplane._engine.client import engine_client
from runplane._engine.parameters import bind
from runplane._engine.states import local_state, make_state
from runplane._task_workers.delay import own_run_spec
from runplane._task_workers.outcome import OwnRun, call_blocking, final_state

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from runplane._tasks import Task


def _start(task: Task[Any, Any], parameters: dict[str, Any]) -> tuple[Any, OwnRun]:
    client = engine_client()
    run_id = uuid.uuid4()
    spec = own_run_spec(task, parameters, run_id)
    client.create_task_run(spec, state=make_state(StateType.PENDING))
    client.set_task_run_state(run_id, make_state(StateType.RUNNING))
    return client, OwnRun(task, run_id, spec.name, parameters)


def _finish(
    task: Task[Any, Any],
    client: Any,
    run_id: uuid.UUID,
    value: Any,
    error: BaseException | None,
    return_state: bool,
) -> Any:
    state = final_state(task, value, error)
    recorded = client.set_task_run_state(run_id, state).state or state
    if return_state:
        return local_state(recorded, value=value, error=error, has_value=error is None)
    if error is not None:
        raise error
    return value


def call_standalone(
    task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool
) -> Any:
    """Runs a sync task outside a flow run as a task run of its own."""
    parameters = bind(task.signature, args, kwargs)
    client, run = _start(task, parameters)
    value, error = call_blocking(run)
    return _finish(task, client, run.run_id, value, error, return_state)


def call_standalone_async(
    task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool
) -> Coroutine[Any, Any, Any]:
    """As ``call_standalone``, for an async task: a coroutine to await."""
    from runplane._task_workers.outcome import call_async

    parameters = bind(task.signature, args, kwargs)

    async def call() -> Any:
        client, run = _start(task, parameters)
        value, error = await call_async(run)
        return _finish(task, client, run.run_id, value, error, return_state)

    return call()
