"""Checks of the options shared by ``@flow`` and ``@task``, done once at decoration time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

RetryDelay = float | Sequence[float] | Callable[[int], Sequence[float]]
"""A number, a list whose last value repeats, or a callable of the retry count."""


def check_retries(retries: int | None) -> int:
    if retries is None:
        return 0
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a whole number >= 0, got {retries!r}")
    return retries


def check_retry_delay(delay: RetryDelay | None) -> RetryDelay:
    if delay is None:
        return 0.0
    if callable(delay):
        return delay
    if isinstance(delay, int | float) and not isinstance(delay, bool):
        if delay < 0:
            raise ValueError(f"retry_delay_seconds must be >= 0, got {delay!r}")
        return float(delay)
    if isinstance(delay, Sequence) and not isinstance(delay, str):
        values = [float(value) for value in delay]
        if any(value < 0 for value in values):
            raise ValueError(f"retry_delay_seconds must all be >= 0, got {list(delay)!r}")
        if len(values) > 50:
            raise ValueError("retry_delay_seconds accepts at most 50 delays")
        return values
    raise TypeError(
        "retry_delay_seconds must be a number, a list of numbers or a callable, "
        f"got {type(delay).__name__}"
    )


def check_jitter(factor: float | None) -> float | None:
    if factor is not None and (not isinstance(factor, int | float) or factor < 0):
        raise ValueError(f"retry_jitter_factor must be a number >= 0, got {factor!r}")
    return None if factor is None else float(factor)


def check_timeout(seconds: float | None) -> float | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise ValueError(f"timeout_seconds must be a number > 0, got {seconds!r}")
    return float(seconds)


def check_tags(tags: Iterable[str] | None) -> tuple[str, ...]:
    if tags is None:
        return ()
    if isinstance(tags, str):
        raise TypeError("tags must be a collection of strings, not one string")
    values = tuple(tags)
    for tag in values:
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"each tag must be a non-empty string, got {tag!r}")
    return tuple(dict.fromkeys(values))


def check_hooks(
    name: str, hooks: Iterable[Callable[..., Any]] | None
) -> tuple[Callable[..., Any], ...]:
    if hooks is None:
        return ()
    values = tuple(hooks)
    for hook in values:
        if not callable(hook):
            raise TypeError(f"{name} hooks must be callables, got {hook!r}")
    return values


def check_expiration(expiration: timedelta | float | None) -> timedelta | None:
    if expiration is None:
        return None
    if isinstance(expiration, int | float) and not isinstance(expiration, bool):
        expiration = timedelta(seconds=expiration)
    if not isinstance(expiration, timedelta) or expiration.total_seconds() <= 0:
        raise ValueError(f"cache_expiration must be a positive timedelta, got {expiration!r}")
    return expiration


def check_name(name: str | None, fn: Callable[..., Any], kind: str) -> str:
    if name is None:
        return str(getattr(fn, "__name__", kind)).replace("<", "").replace(">", "")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a {kind} name must be a non-empty string, got {name!r}")
    return name
