"""Pausing a flow run from its own code until someone resumes it.

``pause_flow_run`` proposes PAUSED with a deadline, then waits on the watch stream (no
polling) for the run to leave PAUSED: RUNNING means resumed and the flow goes on. Its
process stays alive and heartbeated meanwhile, and the run's concurrency slots are free
for others. When the deadline passes first, the server answers a late resume with FAILED
("the run was paused and never resumed"), and the flow ends with ``PauseTimeout``.
``resume_flow_run``, from anywhere, proposes RUNNING (which the server turns into SCHEDULED
for a suspended run, see ``suspensions``).
"""

from __future__ import annotations

import uuid
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio

from runplane._client.client import RunplaneClient
from runplane._client.errors import Unavailable
from runplane._client.models import FlowRunFilter
from runplane._client.states import State, StateDetails, StateType
from runplane._engine.errors import PauseTimeout, RunAborted
from runplane._runtime.context import flow_run_context, task_run_context

if TYPE_CHECKING:
    from runplane._engine.flow_run import FlowRunEngine

# A cancellation also reaches a paused run through CANCELLING; its runner (or the heartbeat
# answer) stops the process, so the wait goes on meanwhile.
_STILL_WAITING = frozenset({StateType.PAUSED, StateType.CANCELLING})


def pause_flow_run(timeout: float = 3600.0) -> None:
    """Pauses the current flow run until ``resume_flow_run`` (or ``runplane flow-run resume``)
    resumes it; raises ``PauseTimeout`` when ``timeout`` seconds pass first.

    Call it from a flow's own code, not from a task: task runs already submitted go on
    running while the flow waits. In an async flow, ``await apause_flow_run(...)`` waits
    without blocking the flow's event loop.
    """
    engine, deadline = _pause(timeout)
    run_id = engine.flow_run_id
    after = engine.client._run(lambda client: _while_paused(client, run_id, deadline))
    _resumed(engine, after)


async def apause_flow_run(timeout: float = 3600.0) -> None:  # noqa: ASYNC109 - as pause_flow_run
    """``pause_flow_run`` for async flows."""
    engine, deadline = _pause(timeout)
    async with RunplaneClient(engine.client.settings) as client:
        after = await _while_paused(client, engine.flow_run_id, deadline)
    _resumed(engine, after)


def own_flow_engine(caller: str, timeout: float) -> FlowRunEngine:
    """The engine of the flow run whose own code (not a task's) calls ``caller``."""
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    context = flow_run_context.get()
    if context is None or context.engine is None or task_run_context.get() is not None:
        raise RuntimeError(f"{caller} is called from a flow run's own code, not a task's")
    engine: FlowRunEngine = context.engine
    return engine


def _pause(timeout: float) -> tuple[FlowRunEngine, datetime]:
    """Puts the current flow run in PAUSED: its engine and the pause's deadline."""
    engine = own_flow_engine("pause_flow_run", timeout)
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    paused = State(
        type=StateType.PAUSED,
        name="Paused",
        message=f"waiting to be resumed until {deadline:%Y-%m-%d %H:%M:%S} UTC",
        details=StateDetails(pause_deadline=deadline),
    )
    state = engine.propose(paused)
    if state.type is not StateType.PAUSED:
        raise RunAborted(f"flow run {engine.flow_run_id} could not pause: it is {state.name}")
    return engine, deadline


def _resumed(engine: FlowRunEngine, after: State | None) -> None:
    """Goes on after the wait, or raises ``PauseTimeout``; ``after`` None: the deadline passed."""
    if after is None:
        # A resume now is answered FAILED, unless one got in first.
        after = engine.propose(State(type=StateType.RUNNING, message="resumed"))
    engine.state = after
    if after.type is not StateType.RUNNING:
        message = after.message or f"flow run {engine.flow_run_id} was not resumed: {after.name}"
        raise PauseTimeout(message)


async def _while_paused(
    client: RunplaneClient, run_id: uuid.UUID, deadline: datetime
) -> State | None:
    """The run's first state that is not a pause (or a cancellation under way); None when
    the deadline comes first."""
    run_filter = FlowRunFilter(flow_run_ids=(run_id,))
    with anyio.move_on_after((deadline - datetime.now(UTC)).total_seconds()):
        while True:
            # include_current: a resume that came before the watch opened is seen at once.
            changes = client.watch_flow_runs(run_filter, include_current=True)
            try:
                async with aclosing(changes):
                    async for change in changes:
                        if change.state.type not in _STILL_WAITING:
                            return change.state
            except Unavailable:
                await anyio.sleep(1.0)  # the server restarts: watch again
    return None


def resume_flow_run(flow_run_id: uuid.UUID | str) -> State:
    """Resumes a paused flow run (its state: RUNNING) or a suspended one (Scheduled
    "Resuming": its runner runs it again); raises ``RunAborted`` when the run is neither, or
    its deadline has passed (the run then ends FAILED)."""
    from runplane._client.sync_client import SyncRunplaneClient

    run_id = flow_run_id if isinstance(flow_run_id, uuid.UUID) else uuid.UUID(flow_run_id)
    with SyncRunplaneClient() as client:
        current = client.get_flow_run(run_id).state
        if current is None or current.type is not StateType.PAUSED:
            # RUNNING to RUNNING would be accepted as a rename: only a paused run resumes.
            now = current.name if current is not None else "without a state"
            raise RunAborted(f"flow run {run_id} was not resumed: it is {now}, not paused")
        answer = client.set_flow_run_state(run_id, State(type=StateType.RUNNING, message="resumed"))
    state = answer.state
    # The server answers a suspended run's resume with SCHEDULED "Resuming", for its runners.
    if state is None or state.type not in (StateType.RUNNING, StateType.SCHEDULED):
        reason = answer.reason or "it is not paused"
        raise RunAborted(f"flow run {run_id} was not resumed: {reason}")
    return state
