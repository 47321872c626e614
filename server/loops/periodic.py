"""Runs a loop's pass every few seconds, surviving errors (logged) until cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


# The first pass waits this long, or one interval if shorter: a server that has just started
# answers its first calls (an embedded server's first flow run above all) without queueing
# them behind every loop's pass on its database, SQLite's one writer included.
FIRST_PASS_DELAY = 1.0


async def every(seconds: float, name: str, step: Callable[[], Awaitable[object]]) -> None:
    await asyncio.sleep(min(seconds, FIRST_PASS_DELAY))
    while True:
        try:
            await step()
        except Exception:
            logger.exception("%s failed; trying again in %.0f s", name, seconds)
        await asyncio.sleep(seconds)
