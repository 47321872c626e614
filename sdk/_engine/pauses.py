"""Pausing a flow run from its own code until someone resumes it.

``pause_flow_run`` proposes PAUSED with a deadline, then waits on the watch stream (no
polling) for the run to leave PAUSED: RUNNING means resumed and the flow goes on. Its
process stays alive and heartbeated meanwhile, and the run's concurrency slots are free
for others. When the deadline passes first, the server answers a late resume with FAILED
("the run was paused and never resumed"), and the flow ends with ``PauseTimeout``.
``resume_flow_run``, from anywhere, proposes RUNNING (which the server turns into SCHEDULED
for a suspended run, see ``suspensions``).

``pause_flow_run(wait_for_input=Model)`` pauses with the model's JSON Schema in the PAUSED
state; the server then resumes the run only with input valid against it (the resume's
``resume_input_json``), and the flow gets that input back as an instance of the model.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio
from pydantic import BaseModel

from runplane._client.client import RunplaneClient
from runplane._client.errors import InvalidArgument, Unavailable
from runplane._client.models import FlowRunFilter
from runplane._client.states import State, StateDetails, StateType
from runplane._engine.errors import PauseTimeout, RunAborted
from runplane._runtime.context import flow_run_context, task_run_context

if TYPE_CHECKING:
    from runplane._engine.flow_run import FlowRunEngine

# A cancellation also reaches a paused run through CANCELLING; its runner (or the heartbeat
# answer) stops the process, so the wait goes on meanwhile.
_STILL_WAITING = frozenset({StateType.PAUSED, StateType.CANCELLING})
# When the pause's deadline passes here a little before it does on the server's clock, a run
# paused for input cannot be ended yet: how long to go on asking, and how often.
_CLOCK_SKEW_SECONDS = 30.0
_SKEW_RETRY_SECONDS = 0.2

M = TypeVar("M", bound=BaseModel)


@overload
def pause_flow_run(timeout: float = 3600.0, *, wait_for_input: None = None) -> None: ...


@overload
def pause_flow_run(timeout: float = 3600.0, *, wait_for_input: type[M]) -> M: ...


def pause_flow_run(timeout: float = 3600.0, *, wait_for_input: type[M] | None = None) -> M | None:
    """Pauses the current flow run until ``resume_flow_run`` (or ``runplane flow-run resume``)
    resumes it; raises ``PauseTimeout`` when ``timeout`` seconds pass first.

    With ``wait_for_input`` (a pydantic model class) the run waits for input: it is resumed
    only with input valid against the model's JSON Schema (``runplane flow-run resume ID
    --input '{...}'``), and returns that input as an instance of the model.

    Call it from a flow's own code, not from a task: task runs already submitted go on
    running while the flow waits. In an async flow, ``await apause_flow_run(...)`` waits
    without blocking the flow's event loop.
    """
    engine, deadline = _pause(timeout, wait_for_input)
    run_id = engine.flow_run_id
    after = engine.client._run(lambda client: _while_paused(client, run_id, deadline))
    return _resumed(engine, after, wait_for_input)


@overload
async def apause_flow_run(
    timeout: float = 3600.0,  # noqa: ASYNC109 - as pause_flow_run
    *,
    wait_for_input: None = None,
) -> None: ...


@overload
async def apause_flow_run(
    timeout: float = 3600.0,  # noqa: ASYNC109 - as pause_flow_run
    *,
    wait_for_input: type[M],
) -> M: ...


async def apause_flow_run(
    timeout: float = 3600.0,  # noqa: ASYNC109 - as pause_flow_run
    *,
    wait_for_input: type[M] | None = None,
) -> M | None:
    """``pause_flow_run`` for async flows."""
    engine, deadline = _pause(timeout, wait_for_input)
    async with RunplaneClient(engine.client.settings) as client:
        after = await _while_paused(client, engine.flow_run_id, deadline)
    return _resumed(engine, after, wait_for_input)


def own_flow_engine(caller: str, timeout: float) -> FlowRunEngine:
    """The engine of the flow run whose own code (not a task's) calls ``caller``."""
    if isinstance(timeout, type):
        raise TypeError(f"{caller} takes the input's model as wait_for_input=, not positionally")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    context = flow_run_context.get()
    if context is None or context.engine is None or task_run_context.get() is not None:
        raise RuntimeError(f"{caller} is called from a flow run's own code, not a task's")
    engine: FlowRunEngine = context.engine
    return engine


def _pause(
    timeout: float, wait_for_input: type[BaseModel] | None
) -> tuple[FlowRunEngine, datetime]:
    """Puts the current flow run in PAUSED: its engine and the pause's deadline."""
    engine = own_flow_engine("pause_flow_run", timeout)
    schema = None
    if wait_for_input is not None:
        if not (isinstance(wait_for_input, type) and issubclass(wait_for_input, BaseModel)):
            raise TypeError(
                f"wait_for_input must be a pydantic model class, got {wait_for_input!r}"
            )
        schema = json.dumps(wait_for_input.model_json_schema(), ensure_ascii=False)
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    waiting = "for input" if schema else "to be resumed"
    paused = State(
        type=StateType.PAUSED,
        name="Paused",
        message=f"waiting {waiting} until {deadline:%Y-%m-%d %H:%M:%S} UTC",
        details=StateDetails(pause_deadline=deadline, pause_input_schema_json=schema),
    )
    state = engine.propose(paused)
    if state.type is not StateType.PAUSED:
        raise RunAborted(f"flow run {engine.flow_run_id} could not pause: it is {state.name}")
    return engine, deadline


def _resumed(
    engine: FlowRunEngine, after: State | None, wait_for_input: type[M] | None
) -> M | None:
    """Goes on after the wait with the resume's input, or raises ``PauseTimeout``; ``after``
    None: the deadline passed."""
    if after is None:
        after = _end_pause(engine)
    engine.state = after
    if after.type is not StateType.RUNNING:
        message = after.message or f"flow run {engine.flow_run_id} was not resumed: {after.name}"
        raise PauseTimeout(message)
    if wait_for_input is None:
        return None
    text = after.details.resume_input_json
    if text is None:  # only a forced state gets past the server's check without input
        raise PauseTimeout(f"flow run {engine.flow_run_id} was resumed without input")
    return wait_for_input.model_validate_json(text)


def _end_pause(engine: FlowRunEngine) -> State:
    """The state after the deadline: FAILED, unless a resume got in first."""
    give_up = time.monotonic() + _CLOCK_SKEW_SECONDS
    while True:
        try:
            # A resume now is answered FAILED, unless one got in first.
            return engine.propose(State(type=StateType.RUNNING, message="resumed"))
        except InvalidArgument:
            # Paused for input, and not yet past the deadline by the server's clock.
            current = engine.client.get_flow_run(engine.flow_run_id).state
            if current is not None and current.type is not StateType.PAUSED:
                return current
            if time.monotonic() >= give_up:
                raise
            time.sleep(_SKEW_RETRY_SECONDS)


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


def resume_flow_run(flow_run_id: uuid.UUID | str, run_input: Any = None) -> State:
    """Resumes a paused flow run (its state: RUNNING) or a suspended one (Scheduled
    "Resuming": its runner runs it again); raises ``RunAborted`` when the run is neither, or
    its deadline has passed (the run then ends FAILED).

    ``run_input`` is the input a run paused with ``wait_for_input`` waits for: a dict (or a
    pydantic model, or any JSON value). The server checks it against the pause's schema and
    raises ``InvalidArgument`` naming the first bad field; the run then stays paused.
    """
    if isinstance(run_input, BaseModel):
        input_json: str | None = run_input.model_dump_json()
    else:
        input_json = None if run_input is None else json.dumps(run_input, allow_nan=False)
    return resume_with_input_json(flow_run_id, input_json)


def resume_with_input_json(flow_run_id: uuid.UUID | str, input_json: str | None) -> State:
    """``resume_flow_run`` with the input as JSON text, sent as it is."""
    from runplane._client.sync_client import SyncRunplaneClient

    run_id = flow_run_id if isinstance(flow_run_id, uuid.UUID) else uuid.UUID(flow_run_id)
    with SyncRunplaneClient() as client:
        current = client.get_flow_run(run_id).state
        if current is None or current.type is not StateType.PAUSED:
            # RUNNING to RUNNING would be accepted as a rename: only a paused run resumes.
            now = current.name if current is not None else "without a state"
            raise RunAborted(f"flow run {run_id} was not resumed: it is {now}, not paused")
        resumed = State(
            type=StateType.RUNNING,
            message="resumed",
            details=StateDetails(resume_input_json=input_json),
        )
        answer = client.set_flow_run_state(run_id, resumed)
    state = answer.state
    # The server answers a suspended run's resume with SCHEDULED "Resuming", for its runners.
    if state is None or state.type not in (StateType.RUNNING, StateType.SCHEDULED):
        reason = answer.reason or "it is not paused"
        raise RunAborted(f"flow run {run_id} was not resumed: {reason}")
    return state
