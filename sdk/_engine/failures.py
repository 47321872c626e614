"""How a failure is told: a short line for the run's state, the traceback for its logs.

Every path that ends a run badly (a task or flow that raised, a crash in the engine, a
runner's child that could not load the flow) words it the same way: the state's message
says ``Type: message``; an ERROR line in the run's logs carries the full traceback.
"""

from __future__ import annotations

import logging
import traceback
import uuid

ENCOUNTERED = "Encountered exception during execution"


def describe(error: BaseException) -> str:
    """``Type: message``, or only ``Type`` when the exception has no message."""
    text = str(error)
    name = type(error).__name__
    return f"{name}: {text}" if text else name


def traceback_text(error: BaseException) -> str:
    """The exception's full traceback, chained causes included, as Python prints it."""
    return "".join(traceback.format_exception(error))


def log_failure(
    error: BaseException,
    flow_run_id: uuid.UUID,
    task_run_id: uuid.UUID | None = None,
    *,
    headline: str = ENCOUNTERED,
) -> None:
    """Logs ``error`` with its traceback as an ERROR line of the run (and on the console)."""
    from runplane._runtime.run_logs import FLOW_RUN_LOGGER, TASK_RUN_LOGGER

    name = FLOW_RUN_LOGGER if task_run_id is None else TASK_RUN_LOGGER
    logging.getLogger(name).error(
        "%s: %s",
        headline,
        describe(error),
        exc_info=(type(error), error, error.__traceback__),
        extra={"flow_run_id": flow_run_id, "task_run_id": task_run_id},
    )
