"""The child process of one flow run: ``python -m runplane.runner.execute``.

Reads ``RUNPLANE_FLOW_RUN_ID``, ``RUNPLANE_FLOW_RUN_LEASE_ID`` and ``RUNPLANE_FLOW_ENTRYPOINT``
from the environment and runs the engine on that run. A deployment of a flow from a git
repository also sets ``RUNPLANE_FLOW_PULL_STEPS``: the repository is cloned (or updated)
first, and the entrypoint is a file of that clone. A failure before the engine can report
(the flow does not load, its parameters do not bind) ends the run CRASHED with the exception
in the state's message and its traceback in the run's logs, so that the cause is on the run
and not only in the runner's output.

First of all it starts watching its runner (``RUNPLANE_RUNNER_LIFELINE_FD``): when the runner
dies, this process and its process group end (see ``runplane.runner._lifeline``). When the
server refuses a proposal because the run's lease is no longer this process's, the run is
someone else's: the process group ends at once too, reporting nothing more.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import uuid

from runplane._engine.errors import LeaseLost
from runplane.runner._lifeline import end_process_group, watch_runner

# Exit code for "the entrypoint did not load"; the run's state already says why.
LOAD_FAILED = 3
# Exit code for "the server gave the run to another", where the process group cannot be ended.
LEASE_LOST = 4
# Exit code for a failure the engine did not report itself; the run's state says why.
RUN_FAILED = 1
_LOGGER_NAME = "runplane.runner.execute"


def _report_crash(
    run_id: uuid.UUID, lease_id: uuid.UUID | None, context: str, error: BaseException
) -> None:
    """CRASHED with ``context`` and the exception as the message; the traceback as a log."""
    from runplane._client.models import LogRecord
    from runplane._client.states import State, StateType
    from runplane._engine.client import engine_client
    from runplane._engine.failures import describe, traceback_text
    from runplane._runtime.run_logs import truncate_message

    message = f"{context}{describe(error)}"
    client = engine_client()
    details = traceback_text(error)
    record = LogRecord(
        flow_run_id=run_id,
        level=logging.ERROR,
        logger_name=_LOGGER_NAME,
        message=truncate_message(f"{message}\n{details}"),
    )
    try:
        client.write_logs([record], batch_id=uuid.uuid4())
    except Exception:
        traceback.print_exc()  # the state below still carries the reason
    crashed = State(type=StateType.CRASHED, message=message)
    client.set_flow_run_state(run_id, crashed, force=True, lease_id=lease_id)


def _fetch_code(entrypoint: str) -> str:
    """Runs the deployment's pull steps, if it has any, and works in the folder they fetched:
    the entrypoint is then a file of it, and its modules import one another."""
    from runplane._deployments.sources import PULL_STEPS_VARIABLE

    steps = os.environ.get(PULL_STEPS_VARIABLE)
    if not steps:
        return entrypoint
    import json

    from runplane._client.settings import get_settings
    from runplane._deployments.sources import run_pull_steps, split_entrypoint

    folder = run_pull_steps(json.loads(steps), get_settings().home)
    path, attribute = split_entrypoint(entrypoint)
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    return f"{folder.joinpath(*path.parts)}:{attribute}"


def main() -> int:
    watch_runner()
    run_id = os.environ.get("RUNPLANE_FLOW_RUN_ID")
    entrypoint = os.environ.get("RUNPLANE_FLOW_ENTRYPOINT")
    if not run_id or not entrypoint:
        print("RUNPLANE_FLOW_RUN_ID and RUNPLANE_FLOW_ENTRYPOINT are required", file=sys.stderr)
        return 2
    lease = os.environ.get("RUNPLANE_FLOW_RUN_LEASE_ID")
    lease_id = uuid.UUID(lease) if lease else None
    from runplane.engine import exit_code, load_flow, run_flow_run

    try:
        entrypoint = _fetch_code(entrypoint)
    except Exception as error:
        traceback.print_exc()
        _report_crash(uuid.UUID(run_id), lease_id, "could not fetch the flow's code: ", error)
        return LOAD_FAILED
    try:
        flow = load_flow(entrypoint)
    except Exception as error:
        traceback.print_exc()
        _report_crash(uuid.UUID(run_id), lease_id, f"could not load flow {entrypoint!r}: ", error)
        return LOAD_FAILED
    try:
        state = run_flow_run(uuid.UUID(run_id), flow, lease_id)
    except LeaseLost as lost:
        # Threads and worker processes of the flow may still run its code: all of it stops.
        end_process_group(f"the run is no longer this process's: {lost}")
        return LEASE_LOST
    except Exception as error:
        # The engine reports what happens once the run is under way; this is what it could
        # not: e.g. the run's parameters do not bind to the flow's signature.
        traceback.print_exc()
        _report_crash(uuid.UUID(run_id), lease_id, "", error)
        return RUN_FAILED
    return exit_code(state)


if __name__ == "__main__":
    sys.exit(main())
