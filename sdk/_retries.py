"""Retry delays: the forms ``retry_delay_seconds`` accepts, and jitter around a delay."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from numbers import Real

__all__ = ["MAX_RETRY_DELAYS", "RetryDelays", "exponential_backoff", "retry_delays", "with_jitter"]

MAX_RETRY_DELAYS = 50
"""Longest list of explicit delays; the last one repeats for further retries."""

RetryDelays = float | int | Sequence[float | int] | Callable[[int], Sequence[float | int]]
"""What ``retry_delay_seconds`` accepts: a number, a list, or ``f(retries) -> list``."""


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """Delays that double: called with ``retries``, gives [f, 2f, 4f, ...] (``retries`` items)."""
    _check_delay(backoff_factor, "backoff_factor")

    def delays(retries: int) -> list[float]:
        return [float(backoff_factor) * 2**attempt for attempt in range(retries)]

    return delays


def retry_delays(retry_delay_seconds: RetryDelays | None, retries: int) -> list[float]:
    """The delay before each of ``retries`` retries, in seconds.

    A number is used for every retry; a list gives one delay per retry, its last value
    repeating (at most 50 values); a callable is called with ``retries`` and its list is
    read the same way. None means no delay. Raises ValueError for negative, non-finite or
    malformed delays.
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a whole number >= 0, not {retries!r}")
    if retry_delay_seconds is None:
        return [0.0] * retries
    if callable(retry_delay_seconds):
        return _from_list(retry_delay_seconds(retries), retries, "retry_delay_seconds()")
    if isinstance(retry_delay_seconds, str | bytes):
        raise ValueError(
            f"retry_delay_seconds must be a number or a list, not {retry_delay_seconds!r}"
        )
    if isinstance(retry_delay_seconds, Sequence):
        return _from_list(retry_delay_seconds, retries, "retry_delay_seconds")
    return [_check_delay(retry_delay_seconds, "retry_delay_seconds")] * retries


def _from_list(values: object, retries: int, what: str) -> list[float]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValueError(f"{what} must give a list of numbers, not {values!r}")
    if len(values) > MAX_RETRY_DELAYS:
        raise ValueError(f"{what} may list at most {MAX_RETRY_DELAYS} delays, got {len(values)}")
    delays = [_check_delay(value, f"{what}[{index}]") for index, value in enumerate(values)]
    if not delays:
        if retries:
            raise ValueError(f"{what} is an empty list; give at least one delay")
        return []
    return [delays[min(index, len(delays) - 1)] for index in range(retries)]


def _check_delay(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{what} must be a number of seconds, not {value!r}")
    delay = float(value)
    if not math.isfinite(delay) or delay < 0:
        raise ValueError(f"{what} must be a finite number of seconds >= 0, not {value!r}")
    return delay


def with_jitter(delay: float, factor: float, rng: random.Random) -> float:
    """``delay`` moved by up to ``factor`` of itself, either way, uniformly.

    The result lies in [delay * (1 - factor), delay * (1 + factor)], never below 0, so
    that retries of many runs failing together spread out. ``factor`` 0 keeps the delay.
    """
    _check_delay(delay, "delay")
    if isinstance(factor, bool) or not isinstance(factor, Real) or not math.isfinite(factor):
        raise ValueError(f"retry_jitter_factor must be a number >= 0, not {factor!r}")
    if factor < 0:
        raise ValueError(f"retry_jitter_factor must be >= 0, not {factor!r}")
    if factor == 0 or delay == 0:
        return float(delay)
    low = max(0.0, delay * (1 - factor))
    return rng.uniform(low, delay * (1 + factor))
