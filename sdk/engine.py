"""Runs an existing flow run: the entry point a runner starts in a child process.

``python -m runplane.engine`` reads ``RUNPLANE_FLOW_RUN_ID`` (the run to execute) and
``RUNPLANE_FLOW_ENTRYPOINT`` (``path/to/file.py:flow_name`` or ``package.module:flow_name``;
the first argument overrides it), loads the flow and runs it with the run's parameters.
``RUNPLANE_FLOW_RUN_LEASE_ID``, when set, is presented with the RUNNING proposal.
The exit code is 0 when the run completed or suspended itself, 1 otherwise.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from runplane._client.states import State
from runplane._flows import Flow

__all__ = ["exit_code", "load_flow", "main", "run_flow_run"]


def load_flow(entrypoint: str) -> Flow[Any, Any]:
    """The flow an entrypoint names: ``file.py:name`` or ``module.path:name``."""
    location, sep, attribute = entrypoint.rpartition(":")
    if not sep or not location or not attribute:
        raise ValueError(f"entrypoint {entrypoint!r} must look like 'file.py:flow_name'")
    if location.endswith(".py"):
        path = Path(location).resolve()
        spec = importlib.util.spec_from_file_location(f"runplane_entry_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(location)
    found = getattr(module, attribute, None)
    if not isinstance(found, Flow):
        raise TypeError(f"{entrypoint!r} is not a flow (found {type(found).__name__})")
    return found


def run_flow_run(
    flow_run_id: uuid.UUID, flow: Flow[Any, Any], lease_id: uuid.UUID | None = None
) -> State:
    """Runs the existing flow run ``flow_run_id`` with ``flow``; returns its final state."""
    import asyncio

    from runplane._engine.client import engine_client
    from runplane._engine.flow_calls import run_flow, run_flow_async

    run = engine_client().get_flow_run(flow_run_id)
    parameters = dict(run.parameters)
    if flow.is_async:
        state: State = asyncio.run(run_flow_async(flow, (), parameters, True, run, lease_id))
    else:
        state = run_flow(flow, (), parameters, True, run, lease_id)
    return state


def exit_code(state: State) -> int:
    """0 when the run completed or suspended itself (it runs again once resumed), else 1."""
    return 0 if state.is_completed() or state.is_suspended() else 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    run_id = os.environ.get("RUNPLANE_FLOW_RUN_ID")
    entrypoint = args[0] if args else os.environ.get("RUNPLANE_FLOW_ENTRYPOINT")
    if not run_id or not entrypoint:
        print("RUNPLANE_FLOW_RUN_ID and an entrypoint are required", file=sys.stderr)
        return 2
    lease = os.environ.get("RUNPLANE_FLOW_RUN_LEASE_ID")
    state = run_flow_run(
        uuid.UUID(run_id), load_flow(entrypoint), uuid.UUID(lease) if lease else None
    )
    return exit_code(state)


if __name__ == "__main__":
    sys.exit(main())
