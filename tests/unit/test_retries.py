"""Retry delays in every accepted form, their validation, and bounded jitter."""

from __future__ import annotations

import random
from typing import Any

import pytest

from runplane._retries import exponential_backoff, retry_delays, with_jitter


def test_exponential_backoff_doubles_from_the_factor() -> None:
    assert exponential_backoff(0.5)(4) == [0.5, 1.0, 2.0, 4.0]
    assert exponential_backoff(3)(0) == []


def test_a_number_applies_to_every_retry() -> None:
    assert retry_delays(2, 3) == [2.0, 2.0, 2.0]
    assert retry_delays(None, 2) == [0.0, 0.0]
    assert retry_delays(5, 0) == []


def test_a_list_repeats_its_last_value() -> None:
    assert retry_delays([1, 10], 4) == [1.0, 10.0, 10.0, 10.0]
    assert retry_delays([1, 10, 100], 2) == [1.0, 10.0]
    assert retry_delays([], 0) == []


def test_a_callable_is_called_with_the_retry_count() -> None:
    assert retry_delays(exponential_backoff(1), 3) == [1.0, 2.0, 4.0]
    assert retry_delays(lambda retries: [7], 2) == [7.0, 7.0]


@pytest.mark.parametrize(
    ("value", "retries", "message"),
    [
        (-1, 1, "must be a finite number of seconds >= 0"),
        (float("inf"), 1, "finite"),
        ("5", 1, "must be a number or a list"),
        ([1, "x"], 2, r"retry_delay_seconds\[1\] must be a number"),
        ([1.0] * 51, 1, "at most 50 delays, got 51"),
        ([], 2, "empty list"),
        (lambda retries: 5, 1, r"retry_delay_seconds\(\) must give a list"),
        (True, 1, "must be a number"),
        (1, -1, "retries must be a whole number >= 0"),
    ],
)
def test_bad_delays_are_explained(value: Any, retries: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        retry_delays(value, retries)


def test_backoff_refuses_a_negative_factor() -> None:
    with pytest.raises(ValueError, match="backoff_factor"):
        exponential_backoff(-1)


def test_jitter_stays_within_its_bounds_and_spreads() -> None:
    rng = random.Random(7)
    values = [with_jitter(10.0, 0.5, rng) for _ in range(500)]
    assert all(5.0 <= v <= 15.0 for v in values)
    assert min(values) < 6.0
    assert max(values) > 14.0


def test_jitter_never_goes_negative() -> None:
    rng = random.Random(1)
    assert all(0.0 <= with_jitter(1.0, 3.0, rng) <= 4.0 for _ in range(200))


def test_no_jitter_keeps_the_delay() -> None:
    rng = random.Random(0)
    assert with_jitter(3.0, 0, rng) == 3.0
    assert with_jitter(0.0, 0.5, rng) == 0.0


@pytest.mark.parametrize("factor", [-0.1, float("nan"), "1"])
def test_bad_jitter_factors_are_refused(factor: Any) -> None:
    with pytest.raises(ValueError, match="retry_jitter_factor"):
        with_jitter(1.0, factor, random.Random(0))
