"""When a schedule fires: cron (croniter), intervals with an anchor, RFC 5545 rules (dateutil).

Every function takes and returns aware datetimes. Time zones are IANA names read with
zoneinfo; cron and rrule times are wall-clock times in that zone, so a daily 09:00 stays at
09:00 across a DST change, and so do intervals of whole days with a time zone.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from croniter import croniter
    from dateutil import rrule

_DAY = 86400.0
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule's definition as stored: ``kind`` is "cron", "interval" or "rrule"."""

    kind: str
    spec: Mapping[str, Any]
    default_anchor: datetime
    """Where intervals and rules without a start count from (the deployment's creation)."""


def definition_hash(kind: str, spec: Mapping[str, Any], parameters: Mapping[str, Any]) -> str:
    """A short stable key of what the schedule creates: runs of another definition differ."""
    text = json.dumps([kind, spec, parameters], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _zone(name: object) -> tzinfo:
    return ZoneInfo(name) if isinstance(name, str) and name else UTC


def times_after(schedule: Schedule, after: datetime, until: datetime, limit: int) -> list[datetime]:
    """Up to ``limit`` fire times t with after < t <= until, in order, in UTC."""
    found: list[datetime] = []
    for moment in _iterate(schedule, after):
        if moment > until or len(found) >= limit:
            break
        if moment > after:
            found.append(moment)
    return found


def latest_at_or_before(schedule: Schedule, before: datetime, after: datetime) -> datetime | None:
    """The last fire time t with after < t <= before, if any."""
    if schedule.kind == "cron":
        cron = _croniter(schedule, before + _TICK)
        moment: datetime | None = cron.get_prev(datetime).astimezone(UTC)
    elif schedule.kind == "interval":
        moment = _interval_at_or_before(schedule, before)
    else:
        moment = _rrule_before(schedule, before + _TICK)
    if moment is None or moment <= after:
        return None
    return moment


def _iterate(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    if schedule.kind == "cron":
        return _cron(schedule, after)
    if schedule.kind == "interval":
        return _interval(schedule, after)
    return _rrule(schedule, after)


def _croniter(schedule: Schedule, start: datetime) -> croniter:
    # Imported here: croniter and dateutil cost a process that never schedules (the CLI's
    # embedded server) a noticeable part of its start.
    from croniter import croniter

    tz = _zone(schedule.spec.get("timezone"))
    return croniter(
        schedule.spec["expression"], start.astimezone(tz), day_or=bool(schedule.spec.get("day_or"))
    )


def _cron(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    cron = _croniter(schedule, after)
    while True:
        yield cron.get_next(datetime).astimezone(UTC)


# --- intervals --------------------------------------------------------------------------------


def _anchor(schedule: Schedule) -> datetime:
    text = schedule.spec.get("anchor_time")
    if isinstance(text, str) and text:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    return schedule.default_anchor


def _wall_clock(schedule: Schedule) -> tzinfo | None:
    """The zone in which whole-day intervals keep their local time, if any."""
    seconds = float(schedule.spec["seconds"])
    zone = schedule.spec.get("timezone")
    if zone and seconds >= _DAY:
        return _zone(zone)
    return None


def _nth(schedule: Schedule, n: int) -> datetime:
    step = timedelta(seconds=float(schedule.spec["seconds"]))
    anchor = _anchor(schedule)
    tz = _wall_clock(schedule)
    if tz is None:
        return (anchor + n * step).astimezone(UTC)
    local = anchor.astimezone(tz).replace(tzinfo=None) + n * step
    return local.replace(tzinfo=tz).astimezone(UTC)


def _index_near(schedule: Schedule, moment: datetime) -> int:
    seconds = float(schedule.spec["seconds"])
    return math.floor((moment - _anchor(schedule)).total_seconds() / seconds)


def _interval(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    # Whole-day steps in a zone drift by at most an hour from the absolute count: start early.
    n = _index_near(schedule, after) - 1
    while True:
        yield _nth(schedule, n)
        n += 1


def _interval_at_or_before(schedule: Schedule, before: datetime) -> datetime | None:
    n = _index_near(schedule, before) + 1
    while n > _index_near(schedule, before) - 3:
        moment = _nth(schedule, n)
        if moment <= before:
            return moment
        n -= 1
    return None


# --- RFC 5545 rules ---------------------------------------------------------------------------


def _rule_set(schedule: Schedule) -> tuple[rrule.rruleset, tzinfo | None]:
    """The rule set, and the zone to read its times in when they are wall-clock (naive)."""
    from dateutil import rrule  # imported on first use, as croniter is

    tz = _zone(schedule.spec.get("timezone"))
    start = schedule.default_anchor.astimezone(tz).replace(tzinfo=None, microsecond=0)
    rules = rrule.rrulestr(str(schedule.spec["rrule"]), dtstart=start, forceset=True)
    assert isinstance(rules, rrule.rruleset)
    first = next(iter(rules), None)
    naive = first is None or first.tzinfo is None
    return rules, (tz if naive else None)


def _to_rule_time(moment: datetime, tz: tzinfo | None) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None) if tz is not None else moment


def _from_rule_time(moment: datetime, tz: tzinfo | None) -> datetime:
    if tz is not None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def _rrule(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    rules, tz = _rule_set(schedule)
    moment = _to_rule_time(after, tz)
    while True:
        found = rules.after(moment, inc=False)
        if found is None:
            return
        yield _from_rule_time(found, tz)
        moment = found


def _rrule_before(schedule: Schedule, before: datetime) -> datetime | None:
    rules, tz = _rule_set(schedule)
    found = rules.before(_to_rule_time(before, tz), inc=False)
    return None if found is None else _from_rule_time(found, tz)
