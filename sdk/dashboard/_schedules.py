"""Deployment schedules in words."""

from __future__ import annotations

from datetime import timedelta

from runplane._client.models import (
    CronSchedule,
    DeploymentSchedule,
    IntervalSchedule,
    RRuleSchedule,
)

_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def interval_words(interval: timedelta) -> str:
    """``every 5 minutes``, ``every hour``, ``every 1 day 2 hours``."""
    seconds = int(interval.total_seconds())
    parts = []
    for size, unit in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}" + ("s" if count > 1 else ""))
    if not parts:
        return "every instant"
    if len(parts) == 1 and parts[0].startswith("1 "):
        return "every " + parts[0][2:]
    return "every " + " ".join(parts)


def cron_words(expression: str) -> str:
    """The common cron shapes in words; any other expression as it is."""
    fields = expression.split()
    if len(fields) != 5:
        return f"on cron “{expression}”"
    minute, hour, day, month, weekday = fields
    rest_any = day == month == weekday == "*"
    if rest_any and hour == "*" and minute.startswith("*/") and minute[2:].isdigit():
        return interval_words(timedelta(minutes=int(minute[2:])))
    if rest_any and hour == "*" and minute == "*":
        return "every minute"
    if rest_any and hour == "*" and minute.isdigit():
        return f"every hour at minute {int(minute)}"
    if rest_any and hour.isdigit() and minute.isdigit():
        return f"every day at {int(hour):02d}:{int(minute):02d}"
    return f"on cron “{expression}”"


def schedule_words(schedule: DeploymentSchedule) -> str:
    """One schedule as a sentence, with its timezone and whether it is off."""
    rule = schedule.schedule
    if isinstance(rule, IntervalSchedule):
        text = interval_words(rule.interval)
    elif isinstance(rule, CronSchedule):
        text = cron_words(rule.expression)
    elif isinstance(rule, RRuleSchedule):
        text = f"on rule “{rule.rrule}”"
    else:  # pragma: no cover - the union is closed
        text = str(rule)
    timezone = getattr(rule, "timezone", None)
    if timezone:
        text += f" ({timezone})"
    if not schedule.active:
        text += ", inactive"
    return text
