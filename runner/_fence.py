"""Self-fencing: a runner that cannot show the server it is alive stops its runs in time.

The server hands a RUNNING run to another runner (CRASHED, or AwaitingRetry) once it has had
no heartbeat for it for ``heartbeat_timeout`` seconds, measured on the server's clock from
the later of the last heartbeat it recorded and the run's last state change. Both happen no
earlier than moments this runner knows on its own monotonic clock:

- a heartbeat is recorded after the runner sent it, so the send time of the last heartbeat
  the server acknowledged is a lower bound for the server's record;
- a run's process proposes RUNNING after the runner received its assignment.

So the server cannot give the run away before ``reference + heartbeat_timeout``, where
``reference`` is the later of the two. The runner kills the run's process at
``reference + FENCE_FRACTION * heartbeat_timeout``; the rest of the timeout covers noticing,
killing, and the drift between the clocks' rates (and between server replicas' clocks).
A PENDING run needs no fence: the server refuses RUNNING under an expired lease.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from uuid import UUID

# The share of the server's heartbeat timeout after which the runner kills its runs.
FENCE_FRACTION = 2 / 3


class Fence:
    """When each held run must be killed, from what the server has acknowledged."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._references: dict[UUID, float] = {}
        self.heartbeat_timeout: float | None = None

    def now(self) -> float:
        return self._clock()

    @property
    def bound(self) -> float | None:
        """Seconds of silence after which a run is killed; None while the timeout is unknown."""
        if not self.heartbeat_timeout:
            return None
        return self.heartbeat_timeout * FENCE_FRACTION

    def received(self, run_id: UUID) -> None:
        """The run was just assigned: the server's clock for it cannot start earlier."""
        self._references[run_id] = self.now()

    def acknowledged(self, run_ids: Iterable[UUID], sent_at: float) -> None:
        """A heartbeat sent at ``sent_at`` (this clock) and listing ``run_ids`` succeeded."""
        for run_id in run_ids:
            if run_id in self._references:
                self._references[run_id] = max(self._references[run_id], sent_at)

    def forget(self, run_id: UUID) -> None:
        self._references.pop(run_id, None)

    def deadline(self, run_id: UUID) -> float | None:
        """When (this clock) the run must be dead; None when no bound is known."""
        bound, reference = self.bound, self._references.get(run_id)
        if bound is None or reference is None:
            return None
        return reference + bound

    def overdue(self) -> list[UUID]:
        """The runs whose deadline has passed."""
        now = self.now()
        return [
            run_id
            for run_id in self._references
            if (deadline := self.deadline(run_id)) is not None and deadline <= now
        ]

    def next_deadline(self) -> float | None:
        deadlines = [d for run_id in self._references if (d := self.deadline(run_id)) is not None]
        return min(deadlines, default=None)
