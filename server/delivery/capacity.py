"""How many more runs a subscriber can take, between what it declared and what was sent since.

A runner declares its free slots when it subscribes and in every heartbeat. Runs assigned
after the runner counted its slots are not in that count yet, so they are subtracted until a
heartbeat lists them as held (then the runner's own count includes them) or until they are
old enough that any later count must include them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Capacity:
    free_slots: int
    settle_seconds: float
    """After this long, an assignment is assumed to be in the runner's declared count."""
    _unconfirmed: dict[uuid.UUID, float] = field(default_factory=dict)

    @property
    def available(self) -> int:
        return max(0, self.free_slots - len(self._unconfirmed))

    @property
    def unconfirmed(self) -> list[uuid.UUID]:
        """Runs sent that the runner's last declared count may not include."""
        return list(self._unconfirmed)

    def assigned(self, run_id: uuid.UUID, at: float) -> None:
        self._unconfirmed[run_id] = at

    def given_back(self, run_id: uuid.UUID) -> None:
        """The run never reached the runner (the stream could not take it)."""
        self._unconfirmed.pop(run_id, None)

    def declared(self, free_slots: int, held: Iterable[uuid.UUID], at: float) -> None:
        """A heartbeat: the runner counted ``free_slots`` while holding ``held``."""
        for run_id in held:
            self._unconfirmed.pop(run_id, None)
        settled = [i for i, t in self._unconfirmed.items() if at - t >= self.settle_seconds]
        for run_id in settled:
            del self._unconfirmed[run_id]
        self.free_slots = free_slots
