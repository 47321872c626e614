"""Checks of schedule definitions: cron expressions, intervals, recurrence rules, time zones.

The checks are deliberately self-contained so that a full cron or RFC 5545 library can
replace them later without touching the callers: each function either returns or raises
:class:`ScheduleError` naming the offending field relative to the schedule.
"""

from __future__ import annotations

import re
import zoneinfo

MIN_INTERVAL_SECONDS = 1.0
# The longest google.protobuf.Duration: 10,000 years.
MAX_INTERVAL_SECONDS = 315_576_000_000.0
MAX_RRULE_LENGTH = 6500
MAX_CRON_LENGTH = 256
MAX_TIMEZONE_LENGTH = 64

_CRON_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class ScheduleError(ValueError):
    """A schedule field is invalid; ``field`` is relative to the schedule, e.g. "cron.timezone"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_timezone(field: str, name: str) -> None:
    """An IANA zone name; empty means UTC."""
    if not name:
        return
    if len(name) > MAX_TIMEZONE_LENGTH:
        raise ScheduleError(field, f"must be at most {MAX_TIMEZONE_LENGTH} characters")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(field, f"unknown IANA time zone {name[:64]!r}") from None


def check_interval(seconds: float) -> None:
    if seconds < MIN_INTERVAL_SECONDS:
        raise ScheduleError("interval.interval", "must be at least one second")
    if seconds > MAX_INTERVAL_SECONDS:
        raise ScheduleError("interval.interval", "must be at most 10,000 years")


# --- cron -------------------------------------------------------------------------------------


class _CronField:
    def __init__(
        self, name: str, low: int, high: int, names: tuple[str, ...] = (), extra: str = ""
    ) -> None:
        self.name = name
        self.low = low
        self.high = high
        # Named values map onto numbers from `low` (months) or 0 (weekdays).
        self.names = {value: index + (low if low == 1 else 0) for index, value in enumerate(names)}
        self.extra = extra  # letters with special meaning in this field (L, W, #)

    def check(self, text: str) -> None:
        for item in text.split(","):
            if not item:
                raise ValueError(f"empty list item in the {self.name} field")
            self._check_item(item)

    def _check_item(self, item: str) -> None:
        base, _, step = item.partition("/")
        if "/" in item and not (step.isdigit() and int(step) > 0):
            raise ValueError(f"bad step {step!r} in the {self.name} field")
        if base in ("*", "?"):
            return
        if self.extra and any(letter in base.upper() for letter in self.extra):
            if not re.fullmatch(r"[0-9A-Z#]+", base.upper()):
                raise ValueError(f"bad value {base!r} in the {self.name} field")
            return
        low_text, _, high_text = base.partition("-")
        low = self._value(low_text)
        if "-" in base and self._value(high_text) < low:
            raise ValueError(f"empty range {base!r} in the {self.name} field")

    def _value(self, text: str) -> int:
        upper = text.upper()
        if upper in self.names:
            return self.names[upper]
        if not text.isdigit() or not self.low <= int(text) <= self.high:
            raise ValueError(
                f"{text!r} is out of range in the {self.name} field ({self.low}-{self.high})"
            )
        return int(text)


_CRON_FIELDS = (
    _CronField("minute", 0, 59),
    _CronField("hour", 0, 23),
    _CronField("day-of-month", 1, 31, extra="LW"),
    _CronField("month", 1, 12, names=_MONTHS),
    _CronField("day-of-week", 0, 7, names=_WEEKDAYS, extra="L#"),
    _CronField("second", 0, 59),
)


def check_cron(expression: str) -> None:
    """Five fields (minute hour day-of-month month day-of-week), an optional sixth (seconds),
    or a macro such as "@daily"."""
    text = expression.strip()
    if not text:
        raise ScheduleError("cron.expression", "must not be empty")
    if len(text) > MAX_CRON_LENGTH:
        raise ScheduleError("cron.expression", f"must be at most {MAX_CRON_LENGTH} characters")
    if text.startswith("@"):
        if text.lower() not in _CRON_MACROS:
            raise ScheduleError("cron.expression", f"unknown macro {text[:32]!r}")
        return
    parts = text.split()
    if len(parts) not in (5, 6):
        raise ScheduleError("cron.expression", f"needs 5 or 6 fields, got {len(parts)}")
    for part, cron_field in zip(parts, _CRON_FIELDS, strict=False):
        try:
            cron_field.check(part)
        except ValueError as error:
            raise ScheduleError("cron.expression", str(error)) from None


# --- rrule ------------------------------------------------------------------------------------

_FREQUENCIES = frozenset({"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
_RULE_KEYS = frozenset(
    {
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    }
)


def _check_rule(rule: str) -> None:
    keys: dict[str, str] = {}
    for part in rule.split(";"):
        key, sep, value = part.partition("=")
        key = key.strip().upper()
        if not sep or not value.strip():
            raise ScheduleError("rrule.rrule", f"expected KEY=VALUE, got {part[:32]!r}")
        if key not in _RULE_KEYS:
            raise ScheduleError("rrule.rrule", f"unknown rule part {key[:32]!r}")
        if key in keys:
            raise ScheduleError("rrule.rrule", f"{key} is given twice")
        keys[key] = value.strip().upper()
    frequency = keys.get("FREQ")
    if frequency is None:
        raise ScheduleError("rrule.rrule", "a rule needs FREQ")
    if frequency not in _FREQUENCIES:
        raise ScheduleError("rrule.rrule", f"unknown FREQ {frequency[:16]!r}")
    for key in ("COUNT", "INTERVAL"):
        if key in keys and not (keys[key].isdigit() and int(keys[key]) > 0):
            raise ScheduleError("rrule.rrule", f"{key} must be a positive integer")
    if "COUNT" in keys and "UNTIL" in keys:
        raise ScheduleError("rrule.rrule", "COUNT and UNTIL exclude each other")


def check_rrule(text: str) -> None:
    """A rule ("FREQ=...") or RFC 5545 lines (DTSTART, RRULE:, RDATE, EXRULE:, EXDATE)."""
    if not text.strip():
        raise ScheduleError("rrule.rrule", "must not be empty")
    if len(text) > MAX_RRULE_LENGTH:
        raise ScheduleError("rrule.rrule", f"must be at most {MAX_RRULE_LENGTH} characters")
    produces_dates = False
    for raw_line in text.strip().splitlines():
        line = raw_line.strip()
        upper = line.upper()
        if not line:
            continue
        if upper.startswith(("RRULE:", "EXRULE:")):
            _check_rule(line.partition(":")[2])
            produces_dates = produces_dates or upper.startswith("RRULE:")
        elif upper.startswith("FREQ="):
            _check_rule(line)
            produces_dates = True
        elif upper.startswith(("DTSTART", "RDATE", "EXDATE")):
            if ":" not in line or not line.partition(":")[2].strip():
                raise ScheduleError("rrule.rrule", f"{upper.split(':')[0][:16]} needs a value")
            produces_dates = produces_dates or upper.startswith("RDATE")
        else:
            raise ScheduleError("rrule.rrule", f"unexpected line {line[:32]!r}")
    if not produces_dates:
        raise ScheduleError("rrule.rrule", "needs an RRULE (or FREQ=...) or an RDATE")
