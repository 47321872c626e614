"""A flow run's timeline: its task runs and subflows as bars by start and end, for SVG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from runplane._client.models import State, StateType, TaskRun
from runplane.dashboard._format import duration_text, state_class, state_label

WIDTH = 900
ROW_HEIGHT = 22
LABEL_WIDTH = 220
_BAR_AREA = WIDTH - LABEL_WIDTH - 10


@dataclass(frozen=True)
class Row:
    """One task run (or subflow) as a bar."""

    y: int
    x: float
    width: float
    label: str
    css: str
    title: str
    attempts: tuple[float, ...]
    """Where each attempt after the first began, as x positions: the retries."""
    child_flow_run_id: UUID | None


@dataclass(frozen=True)
class Timeline:
    rows: tuple[Row, ...]
    start: datetime | None
    span: timedelta
    ticks: tuple[tuple[float, str], ...]
    width: int = WIDTH
    label_width: int = LABEL_WIDTH
    row_height: int = ROW_HEIGHT

    @property
    def height(self) -> int:
        return len(self.rows) * ROW_HEIGHT + 24


def _begin(task_run: TaskRun) -> datetime | None:
    return task_run.start_time or task_run.expected_start_time or task_run.create_time


def build_timeline(
    task_runs: Sequence[TaskRun],
    now: datetime,
    *,
    history: Mapping[UUID, Sequence[State]] | None = None,
    subflows: Mapping[UUID, UUID] | None = None,
    window: tuple[datetime | None, datetime | None] = (None, None),
) -> Timeline:
    """Lays out the task runs that have a time, ordered by start; ``history`` holds the state
    history of the task runs that ran more than once, so that each retry is marked, and
    ``subflows`` the flow run of each subflow call by its task run's id, and ``window`` the
    flow run's start and end."""
    timed = sorted(
        ((begin, task_run) for task_run in task_runs if (begin := _begin(task_run)) is not None),
        key=lambda pair: pair[0],
    )
    if not timed:
        return Timeline((), None, timedelta(0), ())
    # The flow run's own start and end, when known, frame its task runs.
    start = min(timed[0][0], window[0] or timed[0][0])
    end = max(max(task_run.end_time or now for _, task_run in timed), window[1] or start)
    span = max(end - start, timedelta(milliseconds=1))

    def x_of(moment: datetime) -> float:
        return LABEL_WIDTH + (moment - start) / span * _BAR_AREA

    rows = []
    for index, (begin, task_run) in enumerate(timed):
        finish = task_run.end_time or (now if task_run.start_time else begin)
        x = x_of(begin)
        states = (history or {}).get(task_run.id, ())
        runs = [s.timestamp for s in states if s.type is StateType.RUNNING and s.timestamp]
        child = (subflows or {}).get(task_run.id)
        duration = duration_text(finish - begin)
        title = f"{task_run.name or task_run.task_key}: {state_label(task_run.state)}, {duration}"
        if task_run.run_count > 1:
            title += f", {task_run.run_count} attempts"
        rows.append(
            Row(
                y=index * ROW_HEIGHT + 20,
                x=x,
                width=max(x_of(finish) - x, 2.0),
                label=("↳ " if child else "") + (task_run.name or task_run.task_key),
                css=state_class(task_run.state),
                title=title,
                attempts=tuple(x_of(moment) for moment in runs[1:]),
                child_flow_run_id=child,
            )
        )
    ticks = tuple(
        (LABEL_WIDTH + fraction * _BAR_AREA, f"+{duration_text(span * fraction)}")
        for fraction in (0.0, 0.25, 0.5, 0.75, 1.0)
    )
    return Timeline(tuple(rows), start, span, ticks)
