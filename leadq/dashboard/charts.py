"""Chart geometry for inline SVG: the templates draw, this module measures.

Charts are drawn on the server, so the pages need no chart library and
work without JavaScript. Each chart's numbers are also written beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 600
HEIGHT = 160
MARGIN = 24


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    share: float  # 0..1 of the largest value, the bar's length
    note: str = ""


@dataclass(frozen=True)
class LineChart:
    points: str  # SVG polyline points, "x,y x,y ..."
    low: float
    high: float
    first: int
    last: int
    width: int = WIDTH
    height: int = HEIGHT
    margin: int = MARGIN


def bars(items: list[tuple[str, float, str]]) -> list[Bar]:
    """Scale (label, value, note) items so the largest value fills a bar."""
    largest = max((value for _, value, _ in items), default=0) or 1
    return [
        Bar(label, value, max(value, 0) / largest, note) for label, value, note in items
    ]


def line_chart(series: list[tuple[int, float]]) -> LineChart | None:
    """Place (time, value) points, oldest first, on the chart; None if empty."""
    if not series:
        return None
    times = [moment for moment, _ in series]
    values = [value for _, value in series]
    low, high = min(0.0, min(values)), max(values)
    span_time = (times[-1] - times[0]) or 1
    span_value = (high - low) or 1
    inner_width, inner_height = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    points = []
    for moment, value in series:
        x = MARGIN + inner_width * (moment - times[0]) / span_time
        y = MARGIN + inner_height * (1 - (value - low) / span_value)
        points.append(f"{x:.1f},{y:.1f}")
    return LineChart(" ".join(points), low, high, times[0], times[-1])
