"""State types, orchestration outcomes and the well-known state names."""

from __future__ import annotations

import enum


class StateType(enum.IntEnum):
    """The kind of a state; the values are the `runplane.v1.StateType` numbers."""

    SCHEDULED = 1
    PENDING = 2
    RUNNING = 3
    COMPLETED = 4
    FAILED = 5
    CANCELLED = 6
    CRASHED = 7
    PAUSED = 8
    CANCELLING = 9


class OrchestrationStatus(enum.IntEnum):
    """The outcome of a proposal; the values are the `runplane.v1.OrchestrationStatus` numbers."""

    ACCEPT = 1
    REJECT = 2
    WAIT = 3
    ABORT = 4


TERMINAL_TYPES: frozenset[StateType] = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}
)

# Named states that the rules produce or recognise.
LATE = "Late"
AWAITING_RETRY = "AwaitingRetry"
AWAITING_CONCURRENCY_SLOT = "AwaitingConcurrencySlot"
RETRYING = "Retrying"
SUSPENDED = "Suspended"
RESUMING = "Resuming"


def default_state_name(state_type: StateType) -> str:
    """The name a state has when none is given: the type in title case, e.g. "Cancelling"."""
    return state_type.name.title()
