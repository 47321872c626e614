"""Exceptions the engine raises into user code, each naming what happened."""

from __future__ import annotations


class TimedOut(TimeoutError):
    """A flow run or task run exceeded its ``timeout_seconds``."""


class UpstreamFailed(RuntimeError):
    """A task run was not started because a task run it depends on did not complete."""


class ParameterValidationError(ValueError):
    """A flow's parameters do not match its signature; the message names the parameters."""


class RunAborted(RuntimeError):
    """The server refused to let the run proceed (for example, it already ran)."""


class LeaseLost(BaseException):
    """The server refused a proposal because the run is no longer held under this process's
    lease: another runner may be running it now. The flow stops at once and nothing more is
    reported for the run, no hook included. A BaseException, so that code catching
    ``Exception`` does not stop it."""


class PauseTimeout(RuntimeError):
    """A paused flow run was not resumed before its pause deadline; the run ends FAILED."""


class TerminationSignal(BaseException):
    """The process received SIGTERM while a flow ran; the run is reported CRASHED."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"the process received signal {signum}")
        self.signum = signum


class FlowSuspended(BaseException):
    """Ends a flow run's process after ``suspend_flow_run``: the run waits, without a process,
    to be resumed and run again by its runner. A BaseException, so that code catching
    ``Exception`` does not stop it."""
