"""``Task.delay`` and ``Task.apply_async``: record a background task run for a task worker."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from runplane._client.models import TaskRunSpec
from runplane._client.states import StateType
from runplane._engine.client import engine_client
from runplane._engine.names import render_name
from runplane._engine.parameters import bind
from runplane._engine.states import make_state
from runplane._runtime.context import current_tags
from runplane._task_workers.arguments import encode_arguments
from runplane._task_workers.futures import BackgroundTaskFuture

if TYPE_CHECKING:
    from runplane._tasks import Task


def own_run_spec(
    task: Task[Any, Any], bound: dict[str, Any], run_id: uuid.UUID, **fields: Any
) -> TaskRunSpec:
    """A new task run of its own (no flow run) of ``task``: its name and tags as inside a
    flow, with the tags of any ``runplane.tags`` block around the call; ``bound`` are the
    call's parameters, which the name may use."""
    name = render_name(task.task_run_name, bound, "task") or f"{task.name}-{run_id.hex[:6]}"
    return TaskRunSpec(
        task_run_id=run_id,
        task_key=task.task_key,
        name=name,
        tags=tuple(dict.fromkeys((*task.tags, *current_tags()))),
        task_version=task.version,
        **fields,
    )


def delay(
    task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> BackgroundTaskFuture[Any]:
    """Records a SCHEDULED background run of ``task`` with these arguments; the server pushes
    it to a task worker serving the task at once."""
    parameters = bind(task.signature, args, kwargs)
    arguments = encode_arguments(parameters)
    spec = own_run_spec(task, parameters, uuid.uuid4(), background=True, parameters=arguments)
    client = engine_client()
    run = client.create_task_run(spec, state=make_state(StateType.SCHEDULED))
    return BackgroundTaskFuture(run, client)
