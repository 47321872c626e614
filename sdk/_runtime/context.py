"""The run contexts: which flow run and task run the current code belongs to.

The engine sets these context variables around user code; logging, results and
nested calls read them. Threads started by task runners copy the context explicitly.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FlowRunContext:
    """Set while a flow run's function executes.

    ``engine`` is the engine's per-run state (``runplane._engine.flow_run.FlowRunEngine``);
    ``flow`` the ``runplane.Flow`` being run. Both are typed loosely here so that this module
    imports nothing of the engine.
    """

    flow_run_id: uuid.UUID
    flow_name: str
    extras: dict[str, Any] = field(default_factory=dict)
    flow: Any = None
    engine: Any = None
    log_prints: bool = False
    parameters: Mapping[str, Any] | None = None
    """The parameters the flow's function is called with."""


@dataclass
class TaskRunContext:
    """Set while a task run's function executes."""

    task_run_id: uuid.UUID
    task_name: str
    flow_run_id: uuid.UUID | None
    """None for a task run of its own (called outside a flow, or run by a task worker)."""
    extras: dict[str, Any] = field(default_factory=dict)
    task: Any = None
    run_count: int = 1
    log_prints: bool = False
    run_name: str = ""
    parameters: Mapping[str, Any] | None = None
    """The task's arguments by parameter name, when the engine bound them already."""
    call: tuple[tuple[Any, ...], Mapping[str, Any]] | None = None
    """The positional and keyword arguments the task's function is called with."""


flow_run_context: ContextVar[FlowRunContext | None] = ContextVar(
    "runplane_flow_run_context", default=None
)
task_run_context: ContextVar[TaskRunContext | None] = ContextVar(
    "runplane_task_run_context", default=None
)


@dataclass(frozen=True)
class NamingContext:
    """Set while a ``flow_run_name`` or ``task_run_name`` callable names a run."""

    kind: str
    """"flow" or "task"."""
    parameters: Mapping[str, Any]


naming_context: ContextVar[NamingContext | None] = ContextVar(
    "runplane_naming_context", default=None
)
tags_context: ContextVar[frozenset[str]] = ContextVar("runplane_tags", default=frozenset())


def current_run_ids() -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The (flow run id, task run id) of the code running now; None outside runs."""
    task = task_run_context.get()
    if task is not None:
        return task.flow_run_id, task.task_run_id
    flow = flow_run_context.get()
    return (flow.flow_run_id if flow else None), None


def current_tags() -> frozenset[str]:
    """The tags added by enclosing ``tags(...)`` blocks."""
    return tags_context.get()


@contextmanager
def tags(*names: str) -> Iterator[frozenset[str]]:
    """Adds tags to every flow run and task run created inside the block.

    Blocks nest: the tags of enclosing blocks stay. Yields the tags now in effect.
    """
    current = tags_context.get() | frozenset(names)
    token = tags_context.set(current)
    try:
        yield current
    finally:
        tags_context.reset(token)
