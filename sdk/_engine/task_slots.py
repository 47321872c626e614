"""Tag concurrency limits for task runs: a slot of each ``tag:<tag>`` limit while one runs.

Before an attempt proposes RUNNING, a task run with tags takes one slot of each existing
limit named ``tag:<tag>`` of its tags, all at once under one lease, renewed while the
function runs. The slots are given back as soon as the function returns or raises
(a timeout, a crash and a cancellation included): a retry takes a slot again, so a run
waiting for its retry holds none. A process that is killed stops renewing, and its
leases expire after ``LEASE_SECONDS``.

- A task run whose tags have no limit asks the server nothing (see ``tag_limits``).
- While a limit is full, the run waits in Scheduled "AwaitingConcurrencySlot", recorded
  once, and asks again after the server's ``retry_after`` (capped), or at once when
  another task run of this process gives a slot back. Task runs reported by their
  engine skip the server's task-run rules, so this named state is ours to record.
- A limit of 0 never grants a slot: the task run fails at once, without retries, the
  way a flow run is aborted by a deployment limit of 0 (§3, rule 6). Waiting on it
  would block the flow run forever with nothing in the state to say why.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from runplane._client.errors import RunplaneError
from runplane._client.sync_client import SyncRunplaneClient
from runplane._engine.errors import RunAborted
from runplane._engine.off_loop import off_loop
from runplane._engine.slot_leases import LeaseKeeper, Releases
from runplane._engine.tag_limits import TagLimits

if TYPE_CHECKING:
    from runplane._engine.outcome import Outcome
    from runplane._engine.task_run import TaskRun

logger = logging.getLogger("runplane.engine")

LEASE_SECONDS = 30.0
"""How long a slot outlives its task run's process; renewed every half of it."""
MIN_POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 10.0
"""Bounds on how long a waiting task run follows the server's ``retry_after``."""


class TagSlots:
    """This process's tag concurrency against one API: limits, leases, waiters."""

    def __init__(self, client: SyncRunplaneClient) -> None:
        self.client = client
        self.limits = TagLimits(client)
        self.releases = Releases()
        self._keeper = LeaseKeeper(self._renew, LEASE_SECONDS)

    def acquire(
        self, names: list[str], holder: str, request_id: uuid.UUID, occupy: int = 1
    ) -> uuid.UUID | float:
        """The lease now holding the slots, or the seconds to wait before asking again.

        Raises ``RunAborted`` when a limit is 0, ``InvalidArgument`` when ``occupy`` is more
        than a limit.
        """
        lease = self.client.acquire_concurrency_slots(
            names,
            holder_id=holder,
            lease_duration=timedelta(seconds=LEASE_SECONDS),
            request_id=request_id,
            occupy=occupy,
        )
        if lease.granted:
            assert lease.lease_id is not None  # the server sends one with every grant
            self._keeper.hold(lease.lease_id)
            return lease.lease_id
        if lease.retry_after is None:
            raise RunAborted(self._never_message(names))
        seconds = lease.retry_after.total_seconds()
        return min(max(seconds, MIN_POLL_SECONDS), MAX_POLL_SECONDS)

    def _never_message(self, names: list[str]) -> str:
        zero = [name for name in names if self.limits.value(name) == 0] or names
        return f"the concurrency limit {', '.join(zero)} is 0, so it never grants a slot"

    def release(self, lease_id: uuid.UUID) -> None:
        """Gives the slots back; never raises (an unreleased lease expires by itself)."""
        self._keeper.drop(lease_id)
        try:
            self.client.release_concurrency_slots(lease_id)
        except Exception as error:
            logger.warning("could not release concurrency lease %s: %s", lease_id, error)
        self.releases.notify()

    def _renew(self, lease_id: uuid.UUID) -> None:
        self.client.renew_concurrency_lease(
            lease_id, lease_duration=timedelta(seconds=LEASE_SECONDS)
        )


class _SlotRequest:
    """One attempt's request for the slots of the limits on its task run's tags."""

    def __init__(self, run: TaskRun, slots: TagSlots, names: list[str]) -> None:
        self.run, self.slots, self.names = run, slots, names
        # The same id on every ask: a repeat after a lost answer gets the lease it granted.
        self._request_id = uuid.uuid4()
        self._waiting = False

    def ask(self) -> Outcome | float | None:
        """None once the slots are held; seconds to wait; or how the refused run ended."""
        try:
            answer = self.slots.acquire(self.names, str(self.run.id), self._request_id)
        except (RunAborted, RunplaneError) as error:
            return self.run.refused(error)
        if isinstance(answer, uuid.UUID):
            self.run.hold_slots(self.slots, answer)
            return None
        if not self._waiting:
            self._waiting = True
            self.run.awaiting_slot(self.names, answer)
        return answer


def _request(run: TaskRun) -> _SlotRequest | Outcome | None:
    """What ``run`` must ask for; None when no limit is on its tags, or how it ended."""
    slots = run.engine.client.tag_slots()
    try:
        names = slots.limits.names_for(run.tags, run.engine.flow_run_id)
    except RunplaneError as error:
        return run.refused(error)
    return _SlotRequest(run, slots, names) if names else None


def take_slots(run: TaskRun) -> Outcome | None:
    """Waits until ``run`` holds a slot of each limit on its tags; an outcome when it never will.

    Called only for runs with tags; returns at once when none of them has a limit.
    """
    request = _request(run)
    if not isinstance(request, _SlotRequest):
        return request
    return request.slots.releases.ask_until_answered(request.ask)


async def take_slots_async(run: TaskRun) -> Outcome | None:
    """``take_slots`` for a coroutine: asking and waiting leave the event loop free."""
    request = await off_loop(_request, run)  # may list the limits: a round trip
    if not isinstance(request, _SlotRequest):
        return request
    return await request.slots.releases.ask_until_answered_async(request.ask)
