"""Executes deployed flow runs: takes them from the work stream, one process each.

The names load on first use, so that a run's process, which imports only the fork server
or the lifeline, does not pay for the runner's gRPC and subscription code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runplane._lazy_exports import lazy_exports

if TYPE_CHECKING:
    from runplane.runner._runner import SHUTDOWN_MODES, Runner, ShutdownMode
    from runplane.runner._subscription import Backoff

_EXPORTED_FROM: dict[str, tuple[str, ...]] = {
    "runplane.runner._runner": ("SHUTDOWN_MODES", "Runner", "ShutdownMode"),
    "runplane.runner._subscription": ("Backoff",),
}
if not TYPE_CHECKING:  # a module __getattr__ would let type checkers accept any name
    __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTED_FROM)

__all__ = ["SHUTDOWN_MODES", "Backoff", "Runner", "ShutdownMode"]
