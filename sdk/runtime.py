"""What the running code's flow run and task run are, as ``prefect.runtime`` tells it.

``runtime.flow_run.id``, ``.name``, ``.parameters`` and the rest read the run the calling
code belongs to; outside a run they are None (or empty), so code that reads them can also
run on its own. ``flow_run_name`` and ``task_run_name`` callables read the parameters of
the run being named::

    from runplane import flow, runtime

    @flow(flow_run_name=lambda: f"report-{runtime.flow_run.parameters['day']}")
    def report(day: str) -> None:
        print(runtime.flow_run.name, runtime.flow_run.id)
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from runplane._runtime.context import (
    flow_run_context,
    naming_context,
    task_run_context,
)

if TYPE_CHECKING:
    from runplane._client.models import FlowRun

__all__ = ["flow_run", "task_run"]


def _naming_a_flow_run() -> bool:
    """A ``flow_run_name`` callable runs before its run exists: it has no id nor name yet."""
    naming = naming_context.get()
    return naming is not None and naming.kind == "flow"


def _record() -> FlowRun | None:
    """The flow run as recorded when it started, in a flow's or a task's code."""
    context = flow_run_context.get()
    if _naming_a_flow_run():
        return None
    if context is None or context.engine is None:
        return None
    run: FlowRun = context.engine.flow_run
    return run


class FlowRunView:
    """The flow run of the calling code; None or empty outside a flow run."""

    @property
    def id(self) -> UUID | None:
        context = flow_run_context.get()
        if context is None or _naming_a_flow_run():
            return None
        return context.flow_run_id

    @property
    def name(self) -> str | None:
        run = _record()
        return run.name if run is not None else None

    @property
    def flow_name(self) -> str | None:
        context = flow_run_context.get()
        if context is None or _naming_a_flow_run():
            return None
        return context.flow_name

    @property
    def parameters(self) -> dict[str, Any]:
        """The parameters, as the flow's function receives them.

        While a ``flow_run_name`` callable names a run, the parameters of that run.
        """
        naming = naming_context.get()
        if naming is not None and naming.kind == "flow":
            return dict(naming.parameters)
        context = flow_run_context.get()
        if context is None:
            return {}
        if context.parameters is not None:
            return dict(context.parameters)
        run = _record()
        return dict(run.parameters) if run is not None else {}

    @property
    def deployment_id(self) -> UUID | None:
        run = _record()
        return run.deployment_id if run is not None else None

    @property
    def scheduled_start_time(self) -> datetime | None:
        """When the run was due to start."""
        run = _record()
        return run.expected_start_time if run is not None else None

    @property
    def tags(self) -> list[str]:
        run = _record()
        return list(run.tags) if run is not None else []

    @property
    def run_count(self) -> int:
        run = _record()
        return run.run_count if run is not None else 0


class TaskRunView:
    """The task run of the calling code; None or empty outside a task run."""

    @property
    def id(self) -> UUID | None:
        context = task_run_context.get()
        return context.task_run_id if context is not None else None

    @property
    def name(self) -> str | None:
        context = task_run_context.get()
        return (context.run_name or None) if context is not None else None

    @property
    def task_name(self) -> str | None:
        context = task_run_context.get()
        return context.task_name if context is not None else None

    @property
    def run_count(self) -> int:
        context = task_run_context.get()
        return context.run_count if context is not None else 0

    @property
    def parameters(self) -> dict[str, Any]:
        """The task's arguments by parameter name; while a ``task_run_name`` callable
        names a run, the arguments of that run."""
        naming = naming_context.get()
        if naming is not None and naming.kind == "task":
            return dict(naming.parameters)
        context = task_run_context.get()
        if context is None:
            return {}
        if context.parameters is not None:
            return dict(context.parameters)
        if context.call is None or context.task is None:
            return {}
        from runplane._engine.parameters import bind

        args, kwargs = context.call
        return bind(context.task.signature, args, kwargs)


flow_run = FlowRunView()
task_run = TaskRunView()
