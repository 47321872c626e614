"""Runs a loop's pass every few seconds, surviving errors (logged) until cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


async def every(seconds: float, name: str, step: Callable[[], Awaitable[object]]) -> None:
    while True:
        try:
            await step()
        except Exception:
            logger.exception("%s failed; trying again in %.0f s", name, seconds)
        await asyncio.sleep(seconds)
