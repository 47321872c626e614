"""Flow run processes: started in their own process group, stopped as a group."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any, Protocol

import anyio
from anyio.abc import Process

from runplane._client.models import RunAssignment
from runplane._deployments.sources import PULL_STEPS, PULL_STEPS_VARIABLE

ENGINE_MODULE = "runplane.runner.execute"


class RunProcess(Protocol):
    """A run's process, however it was started: a new interpreter or a fork server's child."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


def exit_message(returncode: int) -> str:
    """Why a run's process ended without the run reaching a final state."""
    if returncode == -signal.SIGKILL:
        return "the flow run's process was killed (exit code -9, SIGKILL; out of memory?)"
    if returncode == -signal.SIGTERM:
        return "the flow run's process was terminated (exit code -15, SIGTERM)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the flow run's process died of {name} (exit code {returncode})"
    return f"the flow run's process exited with code {returncode} before the run finished"


def start_failure_message(error: BaseException) -> str:
    return f"the flow run's process could not start: {type(error).__name__}: {error}"


# Variables read when an interpreter starts, which a forked child would not honour.
_STARTUP_PREFIXES = ("PYTHON", "LD_")


def interpreter_environment_differs(env: Mapping[str, str]) -> bool:
    """Whether ``env`` changes how an interpreter starts (``PYTHONPATH``, ``LD_PRELOAD``, ...)
    from the runner's own, so that the run needs a new interpreter rather than a fork."""
    names = {name for name in (*env, *os.environ) if name.startswith(_STARTUP_PREFIXES)}
    return any(env.get(name) != os.environ.get(name) for name in names)


def _env_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value)


def run_environment(
    assignment: RunAssignment, api_env: Mapping[str, str], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The child's environment: the runner's, the API settings, the job's ``env`` variables,
    then the run's identity (which the job cannot override)."""
    env = dict(os.environ if base is None else base)
    env.update(api_env)
    variables: dict[str, Any] = {}
    if assignment.deployment is not None:
        variables.update(assignment.deployment.job_variables)
    variables.update(assignment.flow_run.job_variables)
    job_env = variables.get("env") or {}
    if isinstance(job_env, Mapping):
        env.update({str(key): _env_value(value) for key, value in job_env.items()})
    env["RUNPLANE_FLOW_RUN_ID"] = str(assignment.flow_run.id)
    env["RUNPLANE_FLOW_RUN_LEASE_ID"] = str(assignment.lease_id)
    if assignment.deployment is not None:
        env["RUNPLANE_FLOW_ENTRYPOINT"] = assignment.deployment.entrypoint
    # How the run's process fetches the flow's code first (a repository to clone or update):
    # the deployment's alone, as its entrypoint is; a run's job variables do not change it.
    deployment = assignment.deployment
    steps = deployment.job_variables.get(PULL_STEPS) if deployment is not None else None
    if steps is not None:
        env[PULL_STEPS_VARIABLE] = _env_value(steps)
    else:
        env.pop(PULL_STEPS_VARIABLE, None)
    return env


async def start_run_process(
    env: Mapping[str, str], python: str | None = None, inherited_fds: tuple[int, ...] = ()
) -> Process:
    """Starts the engine on the run named in ``env``, in a new session (and process group)
    so that signals to it never reach the runner and the whole tree can be stopped;
    ``inherited_fds`` stay open in it (the runner's lifeline)."""
    return await anyio.open_process(
        [python or sys.executable, "-m", ENGINE_MODULE],
        env=dict(env),
        pass_fds=inherited_fds,
        stdin=None,
        stdout=None,
        stderr=None,
        start_new_session=True,
    )


def _signal_group(process: RunProcess, signum: int) -> None:
    # Already gone; PermissionError is what macOS reports for an exited group leader.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            # A forked child may not lead its own group yet; while it is unreaped its pid
            # cannot have been reused.
            if process.returncode is None:
                os.kill(process.pid, signum)


async def kill_process_group(process: RunProcess) -> int:
    """SIGKILL to the group at once, with no chance to report anything; the exit code."""
    _signal_group(process, signal.SIGKILL)
    code = await process.wait()
    _signal_group(process, signal.SIGKILL)
    return code


async def stop_process_group(process: RunProcess, grace: float) -> int:
    """SIGTERM to the group, up to ``grace`` seconds to exit, then SIGKILL; the exit code."""
    if process.returncode is None:
        _signal_group(process, signal.SIGTERM)
        with anyio.move_on_after(grace):
            await process.wait()
    if process.returncode is None:
        _signal_group(process, signal.SIGKILL)
    code = await process.wait()
    # Children the run left behind in its group are stopped too.
    _signal_group(process, signal.SIGKILL)
    return code
