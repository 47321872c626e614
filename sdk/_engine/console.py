"""The lines a flow run tells the console: its name and id as it begins, its final state
and where to read its logs as it ends (``Settings.console_lines`` turns them off).

They go through the run logger's console handler but are not sent to the API: storing them
would cost every flow run a log round trip at its end, and its states already say the same.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runplane._client.states import State
    from runplane._engine.flow_run import FlowRunEngine


def _say(engine: FlowRunEngine, text: str, *args: object) -> None:
    if not engine.client.settings.console_lines:
        return
    from runplane._runtime.run_logs import FLOW_RUN_LOGGER

    extra = {"flow_run_id": engine.flow_run_id, "task_run_id": None, "send_to_api": False}
    logging.getLogger(FLOW_RUN_LOGGER).info(text, *args, extra=extra)


def run_began(engine: FlowRunEngine) -> None:
    _say(
        engine,
        "Beginning flow run %r for flow %r (id %s)",
        engine.flow_run.name,
        engine.flow.name,
        engine.flow_run_id,
    )


def run_ended(engine: FlowRunEngine, state: State) -> None:
    message = f": {state.message}" if state.message and not state.is_completed() else ""
    _say(
        engine,
        "Flow run %r finished in state %s()%s; its logs: runplane flow-run logs %s",
        engine.flow_run.name,
        state.name,
        message,
        engine.flow_run_id,
    )
