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


def run_name(task: Task[Any, Any], parameters: dict[str, Any], run_id: uuid.UUID) -> str:
    return render_name(task.task_run_name, parameters, "task") or f"{task.name}-{run_id.hex[:6]}"


def delay(
    task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> BackgroundTaskFuture[Any]:
    """Records a SCHEDULED background run of ``task`` with these arguments; the server pushes
    it to a task worker serving the task at once."""
    parameters = bind(task.signature, args, kwargs)
    run_id = uuid.uuid4()
    extra_tags = current_tags()
    spec = TaskRunSpec(
        task_run_id=run_id,
        task_key=task.task_key,
        name=run_name(task, parameters, run_id),
        tags=tuple(dict.fromkeys((*task.tags, *extra_tags))),
        task_version=task.version,
        background=True,
        parameters=encode_arguments(parameters),
    )
    client = engine_client()
    run = client.create_task_run(spec, state=make_state(StateType.SCHEDULED))
    return BackgroundTaskFuture(run, client)
