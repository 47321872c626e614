"""The child process of one flow run: ``python -m runplane.runner.execute``.

Reads ``RUNPLANE_FLOW_RUN_ID``, ``RUNPLANE_FLOW_RUN_LEASE_ID`` and ``RUNPLANE_FLOW_ENTRYPOINT``
from the environment and runs the engine on that run. A flow that cannot be loaded ends the
run CRASHED with the import error, so that the cause is on the run and not only in a log.
"""

from __future__ import annotations

import os
import sys
import traceback
import uuid

# Exit code for "the entrypoint did not load"; the run's state already says why.
LOAD_FAILED = 3


def _report_load_failure(
    run_id: uuid.UUID, lease_id: uuid.UUID | None, entrypoint: str, error: BaseException
) -> None:
    from runplane._engine.client import engine_client
    from runplane._states import State, StateType

    message = f"could not load flow {entrypoint!r}: {type(error).__name__}: {error}"
    engine_client().set_flow_run_state(
        run_id, State(type=StateType.CRASHED, message=message), force=True, lease_id=lease_id
    )


def main() -> int:
    run_id = os.environ.get("RUNPLANE_FLOW_RUN_ID")
    entrypoint = os.environ.get("RUNPLANE_FLOW_ENTRYPOINT")
    if not run_id or not entrypoint:
        print("RUNPLANE_FLOW_RUN_ID and RUNPLANE_FLOW_ENTRYPOINT are required", file=sys.stderr)
        return 2
    lease = os.environ.get("RUNPLANE_FLOW_RUN_LEASE_ID")
    lease_id = uuid.UUID(lease) if lease else None
    from runplane.engine import exit_code, load_flow, run_flow_run

    try:
        flow = load_flow(entrypoint)
    except Exception as error:
        traceback.print_exc()
        _report_load_failure(uuid.UUID(run_id), lease_id, entrypoint, error)
        return LOAD_FAILED
    state = run_flow_run(uuid.UUID(run_id), flow, lease_id)
    return exit_code(state)


if __name__ == "__main__":
    sys.exit(main())
