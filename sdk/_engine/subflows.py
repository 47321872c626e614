"""The task run that stands for a subflow inside its parent flow run.

It is reported through the parent's reporter like any task run, and flushed before the
child flow run is created, because the child names it as its parent. Its dynamic key
counts the calls of that subflow in the parent, so a rerun of the parent finds the same
child again through the idempotency key instead of starting a duplicate.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from runplane._client.states import State, StateType
from runplane._engine.reporter import TaskRunCreate, Transition
from runplane._runtime.context import current_tags

if TYPE_CHECKING:
    from runplane._engine.flow_run import FlowRunEngine
    from runplane._flows import Flow


class Tracking:
    """The parent's task run for one subflow call."""

    def __init__(self, parent: FlowRunEngine, flow: Flow[Any, Any]) -> None:
        self.parent = parent
        task_key = f"subflow:{flow.name}"
        dynamic_key = parent.next_dynamic_key(task_key)
        self.task_run_id = uuid.uuid5(parent.flow_run_id, f"{task_key}\x00{dynamic_key}")
        self.idempotency_key = f"subflow:{parent.flow_run_id}:{flow.name}:{dynamic_key}"
        self.child_flow_run_id: uuid.UUID | None = None
        extra = current_tags()
        tags = flow.tags if not extra else tuple(dict.fromkeys((*flow.tags, *extra)))
        create = TaskRunCreate(
            task_key, dynamic_key, f"{flow.name}-{dynamic_key}", tags, flow.version, 0, {}
        )
        pending = Transition(StateType.PENDING, "Pending", time.time())
        parent.reporter.record(self.task_run_id, pending, create)
        parent.reporter.flush()

    def started(self, child_flow_run_id: uuid.UUID) -> None:
        self.child_flow_run_id = child_flow_run_id
        change = Transition(
            StateType.RUNNING, "Running", time.time(), child_flow_run_id=child_flow_run_id
        )
        self.parent.reporter.record(self.task_run_id, change)

    def finished(self, state: State) -> None:
        """Mirrors the child's final state onto the tracking task run."""
        change = Transition(
            state.type,
            state.name,
            time.time(),
            state.message,
            result=state.result_ref,
            child_flow_run_id=self.child_flow_run_id,
        )
        self.parent.reporter.record(self.task_run_id, change)
