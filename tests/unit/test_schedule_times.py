"""Fire times of cron, interval and RFC 5545 schedules, time zones and DST included."""

from __future__ import annotations

from datetime import UTC, datetime

from runplane.server.loops.scheduler import LATEST_ONLY, SKIP_MISSED, fire_times
from runplane.server.orchestration.schedule_times import (
    Schedule,
    definition_hash,
    latest_at_or_before,
    times_after,
)
from runplane.server.settings import ServerSettings

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_cron_in_a_zone_keeps_local_time_across_spring_forward() -> None:
    schedule = Schedule("cron", {"expression": "0 9 * * *", "timezone": "Europe/Berlin"}, ANCHOR)
    times = times_after(schedule, _utc(2026, 3, 27), _utc(2026, 3, 31), 10)
    # 09:00 CET is 08:00 UTC; after 29 March, 09:00 CEST is 07:00 UTC.
    assert times == [
        _utc(2026, 3, 27, 8),
        _utc(2026, 3, 28, 8),
        _utc(2026, 3, 29, 7),
        _utc(2026, 3, 30, 7),
    ]


def test_hourly_cron_fires_twice_in_the_repeated_autumn_hour() -> None:
    schedule = Schedule("cron", {"expression": "0 * * * *", "timezone": "Europe/Berlin"}, ANCHOR)
    times = times_after(schedule, _utc(2026, 10, 24, 23, 30), _utc(2026, 10, 25, 2, 30), 10)
    assert times == [_utc(2026, 10, 25, 0), _utc(2026, 10, 25, 1), _utc(2026, 10, 25, 2)]


def test_daily_interval_in_a_zone_follows_dst() -> None:
    spec = {
        "seconds": 86400.0,
        "anchor_time": "2026-03-01T14:00:00Z",
        "timezone": "America/New_York",
    }
    times = times_after(
        Schedule("interval", spec, ANCHOR), _utc(2026, 3, 7), _utc(2026, 3, 9, 23), 5
    )
    assert times == [_utc(2026, 3, 7, 14), _utc(2026, 3, 8, 13), _utc(2026, 3, 9, 13)]


def test_short_interval_counts_from_its_anchor() -> None:
    spec = {"seconds": 60.0, "anchor_time": None, "timezone": ""}
    schedule = Schedule("interval", spec, _utc(2026, 1, 1, 0, 0, 30))
    assert times_after(schedule, _utc(2026, 2, 1), _utc(2026, 2, 1, 0, 2), 10) == [
        _utc(2026, 2, 1, 0, 0, 30),
        _utc(2026, 2, 1, 0, 1, 30),
    ]
    assert latest_at_or_before(schedule, _utc(2026, 2, 1, 0, 2), ANCHOR) == _utc(
        2026, 2, 1, 0, 1, 30
    )


def test_rrule_in_a_zone_and_with_its_own_start() -> None:
    weekly = {
        "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
        "timezone": "Europe/London",
    }
    times = times_after(Schedule("rrule", weekly, ANCHOR), _utc(2026, 3, 20), _utc(2026, 4, 7), 5)
    assert times == [_utc(2026, 3, 23, 9), _utc(2026, 3, 30, 8), _utc(2026, 4, 6, 8)]
    counted = {"rrule": "DTSTART:20260101T120000Z\nRRULE:FREQ=DAILY;COUNT=2", "timezone": ""}
    assert times_after(
        Schedule("rrule", counted, ANCHOR), _utc(2025, 1, 1), _utc(2027, 1, 1), 9
    ) == [
        _utc(2026, 1, 1, 12),
        _utc(2026, 1, 2, 12),
    ]


def test_the_definition_hash_changes_with_the_definition_only() -> None:
    spec = {"expression": "0 9 * * *", "timezone": ""}
    assert definition_hash("cron", spec, {}) == definition_hash("cron", dict(spec), {})
    assert definition_hash("cron", spec, {}) != definition_hash("cron", spec, {"x": 1})


def _minutely() -> Schedule:
    return Schedule("cron", {"expression": "* * * * *", "timezone": ""}, ANCHOR)


def test_fire_times_keep_three_runs_and_an_hour_ahead() -> None:
    settings = ServerSettings()
    now = _utc(2026, 5, 1, 12, 0, 30)
    times = fire_times(_minutely(), 1, None, now, settings)
    assert len(times) == 60
    daily = Schedule("cron", {"expression": "0 0 * * *", "timezone": ""}, ANCHOR)
    assert len(fire_times(daily, 1, None, now, settings)) == 3


def test_catch_up_policies_after_an_outage() -> None:
    settings = ServerSettings(schedule_min_runs=1, schedule_min_horizon=0)
    last, now = _utc(2026, 5, 1, 12, 0), _utc(2026, 5, 1, 12, 5, 30)
    everything = fire_times(_minutely(), 1, last, now, settings)
    latest = fire_times(_minutely(), LATEST_ONLY, last, now, settings)
    skipped = fire_times(_minutely(), SKIP_MISSED, last, now, settings)
    ahead = _utc(2026, 5, 1, 12, 6)
    assert everything == [_utc(2026, 5, 1, 12, m) for m in range(1, 6)] + [ahead]
    assert latest == [_utc(2026, 5, 1, 12, 5), ahead]
    assert skipped == [ahead]
