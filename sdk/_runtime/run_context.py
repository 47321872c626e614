"""``get_run_context``: which flow run (and task run) the calling code belongs to.

The engine keeps this in context variables around user code; this is the public, read-only
view of them, e.g. to name an output file after the flow run or read its parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from runplane._client.models import FlowRun
from runplane._runtime.context import flow_run_context, task_run_context


@dataclass(frozen=True, slots=True)
class RunContext:
    """Where the calling code runs."""

    flow_run: FlowRun
    """The flow run as it was when it started: id, name, flow, deployment, parameters, tags."""
    task_run_id: UUID | None = None
    """The task run, inside a task's code; None in the flow's own code."""
    task_name: str | None = None
    task_run_count: int = 0
    """Which attempt of the task run this is (1 on the first), inside a task's code."""


def get_run_context() -> RunContext:
    """The flow run (and task run) of the calling code; ``RuntimeError`` outside any run.

    Available in a flow's code and in its tasks on the thread pool; not inside functions
    that a process pool or Dask runs in another process.
    """
    flow = flow_run_context.get()
    if flow is None or flow.engine is None:
        raise RuntimeError("get_run_context is called from a flow run's or a task run's code")
    run: FlowRun = flow.engine.flow_run
    task = task_run_context.get()
    if task is None:
        return RunContext(run)
    return RunContext(run, task.task_run_id, task.task_name, task.run_count)
