"""Keeps one work subscription open: resubscribes on ``Reconnect`` and, with backoff, on errors."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from uuid import UUID

import anyio

from runplane._client.client import RunplaneClient
from runplane._client.errors import Aborted, DeadlineExceeded, ServerError, Unavailable
from runplane._client.models import Reconnect, SubscriptionStarted, WorkItem

logger = logging.getLogger("runplane.runner")

# Errors after which subscribing again may work; anything else (a bad pool name, a
# rejected key) is raised rather than retried forever.
TRANSIENT_ERRORS = (Unavailable, DeadlineExceeded, ServerError, Aborted)


@dataclass
class Backoff:
    """Exponential delays with jitter: ``base * 2**n`` capped at ``cap``, each scaled by a
    random factor in [0.5, 1) so that runners cut off together do not return together."""

    base: float = 0.25
    cap: float = 30.0
    random: Callable[[], float] = field(default=random.random)
    attempt: int = 0

    def next_delay(self) -> float:
        delay: float = min(self.cap, self.base * 2.0 ** min(self.attempt, 30))
        self.attempt += 1
        jitter: float = self.random()
        return delay * (0.5 + jitter / 2)

    def reset(self) -> None:
        self.attempt = 0


PYTHON_RUNTIME = "python"


@dataclass
class Subscriber:
    """What the runner tells the server when it subscribes, read fresh on each attempt."""

    client: RunplaneClient
    work_pool_name: str
    work_queue_names: Sequence[str]
    runner_name: str
    free_slots: Callable[[], int]
    held_lease_ids: Callable[[], list[UUID]]
    backoff: Backoff = field(default_factory=Backoff)

    async def run(self, handle: Callable[[WorkItem], Awaitable[None]]) -> None:
        """Hands every item to ``handle`` until cancelled; never returns on its own."""
        while True:
            try:
                reconnect = await self._one_subscription(handle)
            except TRANSIENT_ERRORS as error:
                logger.warning("work stream of pool %r broke: %s", self.work_pool_name, error)
                reconnect = False
            if not reconnect:
                await anyio.sleep(self.backoff.next_delay())

    async def _one_subscription(self, handle: Callable[[WorkItem], Awaitable[None]]) -> bool:
        """True when the server asked to reconnect, False when the stream just ended."""
        stream = self.client.subscribe_work(
            self.work_pool_name,
            runner_name=self.runner_name,
            # Beyond the runs of the held leases: a full runner subscribes with none free and
            # is sent a run when one of its own ends.
            free_slots=self.free_slots(),
            work_queue_names=self.work_queue_names,
            held_lease_ids=self.held_lease_ids(),
            # This runner imports Python entrypoints: deployments of other runtimes are not its.
            runtimes=[PYTHON_RUNTIME],
        )
        async with aclosing(stream):
            async for item in stream:
                if isinstance(item, SubscriptionStarted):
                    self.backoff.reset()
                if isinstance(item, Reconnect):
                    logger.info("server asked to reconnect: %s", item.reason)
                    return True
                await handle(item)
        return False
