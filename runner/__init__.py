"""Executes deployed flow runs: takes them from the work stream, one process each."""

from runplane.runner._runner import SHUTDOWN_MODES, Runner, ShutdownMode
from runplane.runner._subscription import Backoff

__all__ = ["SHUTDOWN_MODES", "Backoff", "Runner", "ShutdownMode"]
