"""Keeps a watch's states in order per run.

States are announced after their transactions commit, from more than one task (the API's
own writes and the loops' claims), so a state can reach the hub after a newer state of the
same run. A watch remembers the newest state it sent for each run and drops older ones.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict

from runplane.server.db.run_records import StateRecord

# Runs remembered per watch; the oldest are forgotten first, long after their states settle.
DEFAULT_CAPACITY = 100_000


class StateOrder:
    """The newest state sent on one watch, per run."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._newest: OrderedDict[uuid.UUID, StateRecord] = OrderedDict()

    def admit(self, run_id: uuid.UUID, state: StateRecord) -> bool:
        """Whether ``state`` is newer than what was sent for the run; if so, it is noted as sent."""
        newest = self._newest.get(run_id)
        if newest is not None and (state.id == newest.id or state.timestamp < newest.timestamp):
            return False
        self._newest[run_id] = state
        self._newest.move_to_end(run_id)
        if len(self._newest) > self._capacity:
            self._newest.popitem(last=False)
        return True
