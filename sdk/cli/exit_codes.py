"""The exit codes of ``runplane`` commands, so that scripts can tell outcomes apart.

``docs/operations.md`` lists them; a test keeps that table and this enum the same.
"""

from __future__ import annotations

from enum import IntEnum

from runplane._client.models import TERMINAL_STATE_TYPES, State, StateType


class ExitCode(IntEnum):
    """What a ``runplane`` command's exit status means."""

    OK = 0
    """Done; a watched run completed."""
    ERROR = 1
    """The command failed: not found, refused by the server, or the server unreachable."""
    USAGE = 2
    """The command line was wrong (an unknown option, a bad value)."""
    RUN_NOT_COMPLETED = 3
    """A watched run ended in a final state other than Completed (Failed, Crashed,
    Cancelled)."""
    WATCH_TIMED_OUT = 4
    """The wait for a watched run ran out (``--timeout``) before the run ended."""
    INTERRUPTED = 130
    """Ctrl-C ended a watch that waits for runs to end."""


def for_final_states(states: list[State | None]) -> ExitCode:
    """The exit code of a watch that ended with runs in these states."""
    types = [state.type if state else None for state in states]
    if any(kind not in TERMINAL_STATE_TYPES for kind in types):
        return ExitCode.WATCH_TIMED_OUT
    if all(kind is StateType.COMPLETED for kind in types):
        return ExitCode.OK
    return ExitCode.RUN_NOT_COMPLETED
