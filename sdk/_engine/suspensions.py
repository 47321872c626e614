"""Suspending a flow run: its process exits, and its runner runs it again once resumed.

``suspend_flow_run`` waits for the task runs already submitted, proposes PAUSED "Suspended"
with a deadline, and raises ``FlowSuspended`` through the flow's code; the engine then exits
without a final state, and the runner reports nothing (the run is not crashed, it waits).
``resume_flow_run`` puts a suspended run back to SCHEDULED, and a runner of its pool starts
it again from the beginning: task runs with persisted results (``persist_result=True``; the
default cache policy includes the flow run id) return their results without running again.
Each ``suspend_flow_run`` call that the earlier executions of this run got past (counted by
the run's Suspended states since it last ended) returns at once instead of suspending again.

A suspension that is not resumed by its deadline is refused when it is: the run ends FAILED.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from runplane._client.models import Page, every_item
from runplane._client.states import SUSPENDED, State, StateDetails, StateType
from runplane._engine.errors import FlowSuspended, RunAborted
from runplane._engine.off_loop import off_loop
from runplane._engine.pauses import own_flow_engine

if TYPE_CHECKING:
    from runplane._engine.flow_run import FlowRunEngine


def suspend_flow_run(timeout: float = 3600.0) -> None:
    """Suspends the current flow run until ``resume_flow_run`` (or ``runplane flow-run
    resume``) resumes it, at most ``timeout`` seconds; its process exits meanwhile.

    Only a deployment's run can be suspended, from the flow's own code: its runner starts it
    again from the beginning once resumed, and this call then returns at once. Give tasks
    that must not run twice ``persist_result=True``.
    """
    engine = _engine_of_caller(timeout)
    if _resumed_before(engine):
        return
    engine.finish_tasks()
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    suspended = State(
        type=StateType.PAUSED,
        name=SUSPENDED,
        message=f"suspended; waiting to be resumed until {deadline:%Y-%m-%d %H:%M:%S} UTC",
        details=StateDetails(pause_deadline=deadline),
    )
    state = engine.propose(suspended)
    if state.type is not StateType.PAUSED:
        raise RunAborted(f"flow run {engine.flow_run_id} could not suspend: it is {state.name}")
    raise FlowSuspended(state.message)


async def asuspend_flow_run(timeout: float = 3600.0) -> None:  # noqa: ASYNC109 - as the sync one
    """``suspend_flow_run`` for async flows."""
    # Waiting for submitted task runs blocks: off the event loop, in a copy of this context.
    await off_loop(suspend_flow_run, timeout)


def _engine_of_caller(timeout: float) -> FlowRunEngine:
    engine = own_flow_engine("suspend_flow_run", timeout)
    if engine.flow_run.deployment_id is None:
        raise RuntimeError(
            "only a deployment's flow run can be suspended: its runner runs it again on resume"
        )
    return engine


def _resumed_before(engine: FlowRunEngine) -> bool:
    """Whether an earlier execution of this run already got past this suspension."""
    engine.suspend_calls += 1
    if engine.resumed_suspensions is None:
        engine.resumed_suspensions = _suspensions_since_last_end(engine)
    return engine.suspend_calls <= engine.resumed_suspensions


def _suspensions_since_last_end(engine: FlowRunEngine) -> int:
    def history(token: str | None) -> Page[State]:
        return engine.client.list_flow_run_states(
            engine.flow_run_id, page_size=200, page_token=token
        )

    count = 0
    for state in every_item(history):
        if state.is_final():
            count = 0  # a rerun after an end starts its suspensions afresh
        elif state.is_suspended():
            count += 1
    return count
