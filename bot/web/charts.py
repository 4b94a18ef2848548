"""The trends page's charts: SVG built here, on the server, inline in the page (no JavaScript, no chart library).

Every label is escaped (`markupsafe.escape`); colours are presentation attributes, not `style`, so the page's
Content-Security-Policy (style-src 'self') lets them through. Each chart has a <title> and a text table beside it in
the page (bot/web/templates/trends.html.j2) for those who cannot see it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

BAR = "#4a154b"
MEDIAN = "#1264a3"
P90 = "#b22222"
AXIS = "#616061"
GRID = "#dddddd"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    colour: str
    values: tuple[float | None, ...]  # one per x label; None: no value there


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{int(value)}"


def _ceiling(top: float) -> float:
    """A round number at or above `top` for an axis's end (1, 2, 5 times a power of ten)."""
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    for step in (1, 2, 5, 10):
        if step * power >= top:
            return float(step * power)
    return float(10 * power)


def bar_chart(chart_id: str, title: str, items: Sequence[tuple[str, float]], *, unit: str = "") -> Markup:
    """Horizontal bars, one per (label, value), labels on the left, values at the bars' ends."""
    row, left, width, right = 26, 200, 620, 60
    height = max(1, len(items)) * row + 30
    top = _ceiling(max((v for _, v in items), default=0.0))
    span = width - left - right
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="4" x2="{left}" y2="{height - 24}" stroke="{AXIS}"/>',
    ]
    for tick in (0.0, top / 2, top):
        x = left + span * tick / top
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" fill="{AXIS}">{_number(tick)}</text>')
    for i, (label, value) in enumerate(items):
        y = 6 + i * row
        length = span * value / top
        shown = label if len(label) <= 30 else label[:29] + "…"
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" fill="#1d1c1d">'
            f"<title>{escape(label)}</title>{escape(shown)}</text>"
        )
        parts.append(
            f'<rect class="bar" x="{left}" y="{y}" width="{max(length, 1):.1f}" height="{row - 8}" fill="{BAR}">'
            f"<title>{escape(label)}: {_number(value)}{escape(unit)}</title></rect>"
        )
        parts.append(f'<text x="{left + length + 4:.1f}" y="{y + 14}" fill="#1d1c1d">{_number(value)}</text>')
    if not items:
        parts.append(f'<text x="{left + 8}" y="20" fill="{AXIS}">Nothing in this range</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str) -> Markup:
    """Lines over `labels` (months), one per series, with a dot at each value, a y axis in `unit` and a legend.
    A gap where a series has no value."""
    width, height, left, right, top_pad, bottom = 760, 260, 56, 34, 28, 40
    values = [v for s in series for v in s.values if v is not None]
    top = _ceiling(max(values, default=0.0))
    span_x = width - left - right
    span_y = height - top_pad - bottom
    step = span_x / max(1, len(labels) - 1) if len(labels) > 1 else 0.0

    def x_of(i: int) -> float:
        return left + (i * step if len(labels) > 1 else span_x / 2)

    def y_of(value: float) -> float:
        return top_pad + span_y * (1 - value / top)

    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" {FONT}>',
        f"<title>{escape(title)}</title>",
    ]
    for tick in (0.0, top / 4, top / 2, 3 * top / 4, top):
        y = y_of(tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}">{_number(tick)}</text>')
    parts.append(
        f'<text x="12" y="{top_pad + span_y / 2:.1f}" fill="{AXIS}" text-anchor="middle" '
        f'transform="rotate(-90 12 {top_pad + span_y / 2:.1f})">{escape(unit)}</text>'
    )
    parts.append(
        f'<line x1="{left}" y1="{top_pad + span_y}" x2="{width - right}" y2="{top_pad + span_y}" stroke="{AXIS}"/>'
    )
    every = max(1, math.ceil(len(labels) / 12))
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(
                f'<text x="{x_of(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" fill="{AXIS}">'
                f"{escape(label)}</text>"
            )
    for n, line in enumerate(series):
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(line.values):
            if value is None:
                runs.append([])
            else:
                runs[-1].append((x_of(i), y_of(value)))
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(
                    f'<polyline class="line" points="{points}" fill="none" stroke="{line.colour}" stroke-width="2"/>'
                )
        for i, value in enumerate(line.values):
            if value is not None:
                parts.append(
                    f'<circle class="point" cx="{x_of(i):.1f}" cy="{y_of(value):.1f}" r="3.5" fill="{line.colour}">'
                    f"<title>{escape(line.name)} {escape(labels[i])}: {_number(value)} {escape(unit)}</title></circle>"
                )
        legend_x = left + 8 + n * 110
        parts.append(f'<rect x="{legend_x}" y="6" width="12" height="12" fill="{line.colour}"/>')
        parts.append(f'<text x="{legend_x + 16}" y="16" fill="#1d1c1d">{escape(line.name)}</text>')
    if not values:
        parts.append(f'<text x="{left + 8}" y="{top_pad + 20}" fill="{AXIS}">Nothing in this range</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def duration_unit(seconds: Sequence[float | None]) -> tuple[str, float]:
    """The unit to show durations in (minutes, or hours when the longest is over two hours) and its seconds."""
    longest = max((s for s in seconds if s is not None), default=0.0)
    return ("hours", 3600.0) if longest > 2 * 3600 else ("minutes", 60.0)
