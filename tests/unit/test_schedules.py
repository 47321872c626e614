"""Schedule definitions and deployment rules, checked without a server."""

from __future__ import annotations

from typing import Any

import pytest

from runplane.server.orchestration import deployments as rules
from runplane.server.orchestration import parameter_schemas
from runplane.server.orchestration.schedules import (
    ScheduleError,
    check_cron,
    check_interval,
    check_rrule,
    check_timezone,
)


@pytest.mark.parametrize(
    "expression",
    [
        "0 9 * * MON-FRI",
        "*/5 * * * *",
        "0 0 L * *",
        "0 0 * * 5#3",
        "0 0 1 JAN,jul *",
        "0-30/10 1,2 * * 0",
        "1 2 3 4 5 6",
        "@daily",
        " 0 9 * * * ",
    ],
)
def test_cron_accepts(expression: str) -> None:
    check_cron(expression)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("", "empty"),
        ("0 9 * *", "5 or 6 fields"),
        ("* * * * * * *", "5 or 6 fields"),
        ("61 * * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 0 0 * *", "day-of-month"),
        ("0 0 * 13 *", "month"),
        ("0 0 * * 8", "day-of-week"),
        ("*/0 * * * *", "step"),
        ("5-1 * * * *", "empty range"),
        ("1,,2 * * * *", "empty list item"),
        ("@often", "macro"),
    ],
)
def test_cron_rejects(expression: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        check_cron(expression)
    assert caught.value.field == "cron.expression"
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=WEEKLY;BYDAY=MO",
        "RRULE:FREQ=HOURLY;INTERVAL=2",
        "DTSTART:20240101T090000\nRRULE:FREQ=DAILY;COUNT=3",
        "DTSTART;TZID=Europe/Paris:20240101T090000\nRRULE:FREQ=DAILY\nEXDATE:20240102T090000",
        "RDATE:20240101T090000",
    ],
)
def test_rrule_accepts(rule: str) -> None:
    check_rrule(rule)


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ("", "empty"),
        ("BYDAY=MO", "unexpected line"),
        ("FREQ=OFTEN", "unknown FREQ"),
        ("FREQ=DAILY;BYWHEN=1", "unknown rule part"),
        ("FREQ=DAILY;COUNT=0", "positive integer"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20250101", "exclude"),
        ("DTSTART:20240101T090000", "needs an RRULE"),
        ("RRULE:INTERVAL=2", "needs FREQ"),
    ],
)
def test_rrule_rejects(rule: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        check_rrule(rule)
    assert caught.value.field == "rrule.rrule"
    assert fragment in caught.value.message


def test_timezones_and_intervals() -> None:
    check_timezone("cron.timezone", "")
    check_timezone("cron.timezone", "Europe/Paris")
    for bad in ("Mars/Olympus", "../../etc/passwd", "/abs"):
        with pytest.raises(ScheduleError) as caught:
            check_timezone("cron.timezone", bad)
        assert caught.value.field == "cron.timezone"
    check_interval(1.0)
    with pytest.raises(ScheduleError):
        check_interval(0.999)
    with pytest.raises(ScheduleError):
        check_interval(1e15)


@pytest.mark.parametrize(
    ("entrypoint", "valid"),
    [
        ("flows/etl.py:run", True),
        ("pkg.module:main", True),
        ("C:/flows/etl.py:run", False),
        ("flows/etl.py", False),
        ("flows/etl.py:", False),
        (":run", False),
        ("mod:run-it", False),
        ("mod:Class.method", True),
    ],
)
def test_entrypoint_shape(entrypoint: str, valid: bool) -> None:
    assert (rules.entrypoint_problem(entrypoint) is None) == valid


def test_merges() -> None:
    assert rules.merge_parameters({"a": 1, "b": {"c": 1}}, {"b": {"d": 2}}) == {
        "a": 1,
        "b": {"d": 2},
    }
    assert rules.merge_job_variables(
        {"env": {"A": "1", "B": "2"}, "image": "x"}, {"env": {"B": "3"}, "image": "y"}
    ) == {"env": {"A": "1", "B": "3"}, "image": "y"}
    assert rules.union_tags(["a", "b"], ["b", "c", "a"]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("parameters", "schema", "bad"),
    [
        ({}, {}, None),
        ({"x": 1}, {"properties": {"x": {}}, "required": ["x"]}, None),
        ({}, {"properties": {"x": {}}, "required": ["x"]}, "x"),
        ({"x": 1, "y": 2}, {"properties": {"x": {}}}, "y"),
        ({"x": 1, "y": 2}, {"properties": {"x": {}}, "additionalProperties": True}, None),
        ({"x": "a"}, {"properties": {"x": {"type": "integer"}}}, "x"),
        ({"x": 1, "y": 2}, {"properties": {"x": {}}, "additionalProperties": False}, "y"),
    ],
)
def test_parameter_schema(
    parameters: dict[str, Any], schema: dict[str, Any], bad: str | None
) -> None:
    if bad is None:
        parameter_schemas.check_parameters(parameters, schema)
        return
    with pytest.raises(parameter_schemas.ParameterError) as caught:
        parameter_schemas.check_parameters(parameters, schema)
    assert caught.value.name == bad
