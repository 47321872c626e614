"""The dashboard's pure parts: the runs chart, the timeline, schedules in words, the run-now
form and artifacts as HTML."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from runplane import (
    Artifact,
    ArtifactType,
    CronSchedule,
    Deployment,
    DeploymentSchedule,
    FlowRun,
    IntervalSchedule,
    State,
    StateType,
)
from runplane._client.models import TaskRun
from runplane.dashboard._artifacts import render_artifact
from runplane.dashboard._charts import HEIGHT, runs_chart
from runplane.dashboard._forms import FormError, parameter_fields, parameters_from_form
from runplane.dashboard._schedules import cron_words, interval_words, schedule_words
from runplane.dashboard._timeline import LABEL_WIDTH, build_timeline

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _run(minute: int, state: StateType) -> FlowRun:
    return FlowRun(
        id=uuid.uuid4(),
        name="r",
        flow_id=uuid.uuid4(),
        state=State(type=state),
        expected_start_time=T0 + timedelta(minutes=minute),
    )


def test_the_chart_stacks_each_bucket_by_state() -> None:
    runs = [_run(0, StateType.COMPLETED), _run(0, StateType.FAILED), _run(30, StateType.COMPLETED)]
    chart = runs_chart(runs)
    assert chart.runs == 3
    assert chart.peak == 2
    assert chart.bucket == timedelta(minutes=1)
    first, last = chart.bars[0], chart.bars[-1]
    assert [s.state for s in first.segments] == [StateType.COMPLETED, StateType.FAILED]
    assert first.segments[0].y + first.segments[0].height == pytest.approx(HEIGHT)
    assert last.x > first.x
    assert "2 runs (1 completed, 1 failed)" in first.title


def test_an_empty_chart_has_no_bars() -> None:
    assert runs_chart([]).bars == ()


def _task(key: str, start: int, end: int | None, runs: int = 1) -> TaskRun:
    return TaskRun(
        id=uuid.uuid4(),
        flow_run_id=uuid.uuid4(),
        task_key=key,
        name=key,
        state=State(type=StateType.COMPLETED if end is not None else StateType.RUNNING),
        start_time=T0 + timedelta(seconds=start),
        end_time=None if end is None else T0 + timedelta(seconds=end),
        run_count=runs,
    )


def test_the_timeline_orders_by_start_and_scales_to_the_run() -> None:
    late, early = _task("late", 5, 10), _task("early", 0, 5)
    timeline = build_timeline([late, early], T0 + timedelta(seconds=10))
    assert [row.label for row in timeline.rows] == ["early", "late"]
    assert timeline.rows[0].x == LABEL_WIDTH
    assert timeline.rows[1].x == pytest.approx(timeline.rows[0].x + timeline.rows[0].width)


def test_a_running_task_reaches_now_and_retries_are_marked() -> None:
    task = _task("flaky", 0, None, runs=2)
    history = [
        State(type=StateType.RUNNING, timestamp=T0),
        State(type=StateType.RUNNING, timestamp=T0 + timedelta(seconds=4)),
    ]
    timeline = build_timeline([task], T0 + timedelta(seconds=8), history={task.id: history})
    (row,) = timeline.rows
    assert len(row.attempts) == 1
    assert row.x < row.attempts[0] < row.x + row.width
    assert "2 attempts" in row.title


def test_a_subflow_row_links_to_its_run() -> None:
    call, child = _task("subflow:child", 0, 1), uuid.uuid4()
    (row,) = build_timeline([call], T0, subflows={call.id: child}).rows
    assert row.child_flow_run_id == child


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(300, "every 5 minutes"), (3600, "every hour"), (93600, "every 1 day 2 hours")],
)
def test_intervals_in_words(seconds: int, words: str) -> None:
    assert interval_words(timedelta(seconds=seconds)) == words


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("*/15 * * * *", "every 15 minutes"),
        ("0 * * * *", "every hour at minute 0"),
        ("30 6 * * *", "every day at 06:30"),
        ("0 9 * * 1-5", "on cron “0 9 * * 1-5”"),
    ],
)
def test_cron_in_words(expression: str, words: str) -> None:
    assert cron_words(expression) == words


def test_a_schedule_says_its_timezone_and_whether_it_is_off() -> None:
    schedule = DeploymentSchedule(
        schedule=CronSchedule(expression="30 6 * * *", timezone="Europe/Oslo"), active=False
    )
    assert schedule_words(schedule) == "every day at 06:30 (Europe/Oslo), inactive"
    interval = DeploymentSchedule(schedule=IntervalSchedule(interval=timedelta(minutes=1)))
    assert schedule_words(interval) == "every minute"


def _deployment() -> Deployment:
    schema = {
        "properties": {
            "n": {"type": "integer", "default": 3},
            "label": {"type": "string"},
            "fast": {"type": "boolean"},
            "mode": {"enum": ["a", "b"]},
            "extra": {"type": "object"},
        },
        "required": ["label"],
    }
    return Deployment(name="d", entrypoint="f.py:f", parameter_schema=schema, parameters={})


def test_the_form_has_a_field_per_parameter_with_its_default() -> None:
    fields = {field.name: field for field in parameter_fields(_deployment())}
    assert fields["n"].kind == "integer"
    assert fields["n"].value == "3"
    assert fields["label"].required
    assert fields["mode"].choices == ("a", "b")
    assert fields["extra"].kind == "json"


def test_form_values_become_typed_parameters() -> None:
    form = {"param.n": "7", "param.label": "x", "param.fast": "on", "param.mode": "b"}
    form["param.extra"] = '{"k": [1]}'
    assert parameters_from_form(_deployment(), form) == {
        "n": 7,
        "label": "x",
        "fast": True,
        "mode": "b",
        "extra": {"k": [1]},
    }


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"param.n": "1"}, "'label' is required"),
        ({"param.label": "x", "param.n": "seven"}, "'n'"),
        ({"param.label": "x", "param.mode": "c"}, "'mode' must be one of"),
        ({"param.label": "x", "param.extra": "{"}, "'extra'"),
    ],
)
def test_a_value_that_does_not_fit_names_its_parameter(form: dict[str, str], named: str) -> None:
    with pytest.raises(FormError, match=named):
        parameters_from_form(_deployment(), form)


def _artifact(kind: ArtifactType, data: str) -> Artifact:
    return Artifact(id=uuid.uuid4(), type=kind, data=data)


def test_markdown_is_rendered_without_raw_html() -> None:
    html = render_artifact(_artifact(ArtifactType.MARKDOWN, "# Hi\n<img src=x onerror=alert(1)>"))
    assert "<h1>Hi</h1>" in html
    assert "<img" not in html


def test_tables_from_rows_or_columns() -> None:
    rows = render_artifact(_artifact(ArtifactType.TABLE, json.dumps([{"a": 1, "b": "<x>"}])))
    assert "<th>a</th>" in rows
    assert "<td>&lt;x&gt;</td>" in rows
    columns = render_artifact(_artifact(ArtifactType.TABLE, json.dumps({"a": [1, 2]})))
    assert columns.count("<tr>") == 3


def test_links_are_only_followed_for_web_addresses() -> None:
    link = render_artifact(_artifact(ArtifactType.LINK, "[docs](https://example.com/a)"))
    assert '<a href="https://example.com/a"' in link
    assert ">docs</a>" in link
    script = render_artifact(_artifact(ArtifactType.LINK, "javascript:alert(1)"))
    assert "<a" not in script


def test_row_lists_are_a_table_without_headers() -> None:
    html = render_artifact(_artifact(ArtifactType.TABLE, json.dumps([["Oslo", 3], ["<b>", 19]])))
    assert "<th>" not in html
    assert html.count("<tr>") == 2
    assert "<td>&lt;b&gt;</td><td>19</td>" in html


def test_progress_is_a_bar_with_its_percentage() -> None:
    html = render_artifact(_artifact(ArtifactType.PROGRESS, "42.5"))
    assert '<progress max="100" value="42.5"' in html
    assert "42.5%" in html
    assert "<progress" not in render_artifact(_artifact(ArtifactType.PROGRESS, "lots"))


@pytest.mark.parametrize(
    "url",
    [
        'https://example.com/a.png"onerror="alert(1)',
        "https://example.com/<script>alert(1)</script>.png",
        "https://example.com/a.png'onerror='alert(1)",
    ],
)
def test_an_image_url_cannot_break_out_of_its_attribute(url: str) -> None:
    html = str(render_artifact(_artifact(ArtifactType.IMAGE, url)))
    assert html.count("<img") == 1
    assert "<script" not in html
    assert '"onerror' not in html
    assert "'onerror" not in html


def test_images_are_shown_from_web_addresses_only() -> None:
    html = render_artifact(_artifact(ArtifactType.IMAGE, "https://example.com/chart.png"))
    assert '<img class="artifact-image" src="https://example.com/chart.png"' in html
    assert 'referrerpolicy="no-referrer"' in html
    for url in ("javascript:alert(1)", "data:image/svg+xml,<svg onload=alert(1)>", "/x.png"):
        assert "<img" not in render_artifact(_artifact(ArtifactType.IMAGE, url))
