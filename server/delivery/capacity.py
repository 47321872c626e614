"""The slots of this server's subscribers, counted from the runs handed to each.

A subscriber declares its free slots once, when it subscribes: slots free at that moment,
beyond the runs whose leases it presents. Its capacity is those free slots plus the presented
runs that it still holds (moved to the new subscription). From then on the server counts for
itself: every run it hands out, or that moved over, holds one slot until the run no longer
holds it (see :func:`holds_slot`). Heartbeats do not move the count, so a push that crosses a
heartbeat, or a run that started before a heartbeat listed it, can never overfill a
subscriber.

The count goes down only after reading the runs back (a run ends in whatever server process
its runner's call reached): :meth:`SlotLedger.maybe_freed` marks the subscriber whose run may
have ended, and the dispatcher reads its held runs again before its next claim.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from runplane.server.orchestration import SUSPENDED, StateType

# The states in which a run occupies a slot of the runner it was handed to: from the claim
# until it is final or SCHEDULED again. Suspended is the exception among PAUSED: it has no
# process.
_SLOT_TYPES = frozenset(
    {StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.PAUSED}
)


def holds_slot(state_type: int | None, state_name: str) -> bool:
    """Whether a run in this state occupies a slot of the runner it was handed to."""
    if state_type == StateType.PAUSED:
        return state_name != SUSPENDED
    return state_type in _SLOT_TYPES


@dataclass
class Slots:
    """One subscriber's slots."""

    capacity: int
    held: set[uuid.UUID] = field(default_factory=set)
    stale: bool = False
    """A held run may have let its slot go since the runs were last read."""

    @property
    def free(self) -> int:
        return max(0, self.capacity - len(self.held))


class SlotLedger:
    """Every subscriber's slots by session, and which subscriber holds each run handed out."""

    def __init__(self) -> None:
        self._slots: dict[uuid.UUID, Slots] = {}
        self._holder: dict[uuid.UUID, uuid.UUID] = {}

    def __contains__(self, session_id: uuid.UUID) -> bool:
        return session_id in self._slots

    def sessions(self) -> list[uuid.UUID]:
        return list(self._slots)

    def open(self, session_id: uuid.UUID, free_slots: int, held: Iterable[uuid.UUID]) -> None:
        """A new subscriber, with the runs it still holds from before."""
        runs = set(held)
        self._slots[session_id] = Slots(free_slots + len(runs))
        for run_id in runs:
            self.handed_out(session_id, run_id)

    def close(self, session_id: uuid.UUID) -> None:
        slots = self._slots.pop(session_id, None)
        for run_id in slots.held if slots else ():
            if self._holder.get(run_id) == session_id:
                del self._holder[run_id]

    def get(self, session_id: uuid.UUID) -> Slots | None:
        return self._slots.get(session_id)

    def handed_out(self, session_id: uuid.UUID, run_id: uuid.UUID) -> None:
        slots = self._slots.get(session_id)
        if slots is None:
            return
        previous = self._holder.get(run_id)
        if previous is not None and previous != session_id:
            self._release(previous, run_id)
        slots.held.add(run_id)
        self._holder[run_id] = session_id

    def released(self, run_id: uuid.UUID) -> None:
        """The run never reached its subscriber, or is known to hold its slot no more."""
        session_id = self._holder.get(run_id)
        if session_id is not None:
            self._release(session_id, run_id)

    def _release(self, session_id: uuid.UUID, run_id: uuid.UUID) -> None:
        self._holder.pop(run_id, None)
        slots = self._slots.get(session_id)
        if slots is not None:
            slots.held.discard(run_id)

    def recount_all(self) -> None:
        """Every subscriber's runs are read back before its next claim (the slow sweep)."""
        for slots in self._slots.values():
            slots.stale = bool(slots.held)

    def maybe_freed(self, run_id: uuid.UUID) -> uuid.UUID | None:
        """The run may have let its slot go: marks its subscriber for a recount; its session."""
        session_id = self._holder.get(run_id)
        if session_id is None:
            return None
        slots = self._slots.get(session_id)
        if slots is not None:
            slots.stale = True
        return session_id

    def to_recount(self, session_id: uuid.UUID) -> list[uuid.UUID]:
        """The held runs to read back, when one may have let its slot go; a mark that comes
        while they are read asks for another recount."""
        slots = self._slots.get(session_id)
        if slots is None or not slots.stale:
            return []
        slots.stale = False
        return list(slots.held)

    def counted(
        self, session_id: uuid.UUID, read: Iterable[uuid.UUID], still_held: Iterable[uuid.UUID]
    ) -> None:
        """The runs ``read`` back were found: those not ``still_held`` are let go."""
        keep = set(still_held)
        for run_id in set(read) - keep:
            if self._holder.get(run_id) == session_id:
                self._release(session_id, run_id)
