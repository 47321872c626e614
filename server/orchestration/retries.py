"""Retry arithmetic shared by the flow and task policies and by the server's reapers."""

from __future__ import annotations

from datetime import datetime, timedelta

from runplane.server.orchestration.model import RunSnapshot, StateSpec
from runplane.server.orchestration.states import AWAITING_RETRY, StateType


def retry_delay(delays: tuple[float, ...], run_count: int) -> float:
    """Seconds to wait before the retry that follows attempt `run_count` (1-based).

    The first retry waits `delays[0]`, the second `delays[1]`, and so on; the last delay repeats.
    No delays means retry at once.
    """
    if not delays:
        return 0.0
    index = min(max(run_count - 1, 0), len(delays) - 1)
    return max(delays[index], 0.0)


def retries_left(snapshot: RunSnapshot) -> bool:
    """Whether the attempt that just ran (number `run_count`) may be followed by another."""
    # A run that never reached RUNNING still counts as its first attempt.
    return max(snapshot.run_count, 1) <= snapshot.retries


def awaiting_retry_state(
    snapshot: RunSnapshot, failure: StateSpec, now: datetime
) -> StateSpec | None:
    """The AwaitingRetry state that replaces `failure`, or None when the run may not retry."""
    if failure.retriable is False or not retries_left(snapshot):
        return None
    delay = retry_delay(snapshot.retry_delays, snapshot.run_count)
    return StateSpec(
        StateType.SCHEDULED,
        AWAITING_RETRY,
        message=failure.message,
        scheduled_time=now + timedelta(seconds=delay),
    )
