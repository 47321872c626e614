"""The runs page's bar chart: runs per time bucket, stacked by state, laid out for SVG."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from runplane._client.models import FlowRun, StateType
from runplane.dashboard._format import STATE_ORDER, run_time, time_text

WIDTH = 900
HEIGHT = 120
_BUCKETS = 40
_NICE_SPANS = tuple(
    timedelta(seconds=seconds)
    for seconds in (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
)


@dataclass(frozen=True)
class Segment:
    """One state's part of a bar."""

    y: float
    height: float
    state: StateType
    count: int


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    start: datetime
    total: int
    segments: tuple[Segment, ...]

    @property
    def title(self) -> str:
        parts = ", ".join(f"{s.count} {s.state.value.lower()}" for s in self.segments)
        return f"{time_text(self.start)}: {self.total} runs ({parts})"


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    bucket: timedelta
    first: datetime | None
    last: datetime | None
    runs: int
    peak: int
    width: int = WIDTH
    height: int = HEIGHT


def bucket_span(first: datetime, last: datetime) -> timedelta:
    """The smallest round span that fits the range into at most ``_BUCKETS`` bars."""
    wanted = (last - first) / _BUCKETS
    return next((span for span in _NICE_SPANS if span >= wanted), _NICE_SPANS[-1])


def runs_chart(runs: Sequence[FlowRun]) -> Chart:
    """Bars of the given runs per time bucket, each stacked by state in ``STATE_ORDER``."""
    timed = [(moment, run) for run in runs if (moment := run_time(run)) is not None]
    if not timed:
        return Chart((), timedelta(0), None, None, 0, 0)
    first = min(moment for moment, _ in timed)
    last = max(moment for moment, _ in timed)
    span = bucket_span(first, last)
    origin = datetime.fromtimestamp(
        first.timestamp() // span.total_seconds() * span.total_seconds(), first.tzinfo
    )
    counts: dict[int, Counter[StateType]] = {}
    for moment, run in timed:
        index = int((moment - origin) / span)
        kind = run.state.type if run.state is not None else StateType.PENDING
        counts.setdefault(index, Counter())[kind] += 1
    slots = max(counts) + 1
    peak = max(sum(counter.values()) for counter in counts.values())
    slot_width = WIDTH / slots
    bars = []
    for index, counter in sorted(counts.items()):
        total = sum(counter.values())
        segments = []
        bottom = float(HEIGHT)
        for kind in STATE_ORDER:
            if counter[kind]:
                height = counter[kind] / peak * (HEIGHT - 4)
                bottom -= height
                segments.append(Segment(bottom, height, kind, counter[kind]))
        bars.append(
            Bar(
                x=index * slot_width + 1,
                width=max(slot_width - 2, 1),
                start=origin + span * index,
                total=total,
                segments=tuple(segments),
            )
        )
    return Chart(tuple(bars), span, first, last, len(timed), peak)
