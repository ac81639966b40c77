"""SVG charts drawn on the server (STYLE.md: no chart library, no JavaScript): stacked columns, lines and horizontal
bars. Every label is escaped (`_svg`); the SVG is `role="img"`, labelled by its title and
description, and the page puts the same numbers in a table right below it. The legend is HTML (`legend_html`).

Colours are at least 3:1 against white (WCAG non-text contrast) and stacked segments are parted by a white line.
"""

from __future__ import annotations

import html as stdlib_html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#5b21b6", "#c2410c", "#0e7490", "#15803d", "#be185d", "#1d4ed8")
TOTAL_COLOUR = "#1f2430"
AXIS, GRID, TEXT = "#8a93a3", "#e6e9ee", "#454b57"
WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36
LABEL_WIDTH = 64  # room an x-axis label needs, in SVG units


def _svg(template: str, *args: object) -> SafeString:
    """`format_html` that keeps numbers numbers (so `{:.1f}` works): every other argument is escaped, as
    `conditional_escape` would (safe text as it is, other text through the standard library's `html.escape`,
    which makes the same entities without Django's lazy-text checks: a chart has thousands of arguments)."""
    return mark_safe(  # noqa: S308 (every text argument is escaped here)  # nosec B308 B703
        template.format(
            *(
                a
                if isinstance(a, int | float | Decimal) and not isinstance(a, bool)
                else a.__html__()
                if hasattr(a, "__html__")
                else stdlib_html.escape(str(a))
                for a in args
            )
        )
    )


def _svg_join(separator: str, template: str, rows) -> SafeString:
    return mark_safe(separator.join(_svg(template, *row) for row in rows))  # noqa: S308 (escaped by _svg)  # nosec B308 B703


@dataclass(frozen=True)
class Line:
    """A series to draw: its label, colour and a value per category."""

    label: str
    colour: str
    values: Sequence[Decimal | int]
    bold: bool = False


def coloured(series: Sequence, colours: dict[str, str] | None = None) -> list[Line]:
    """Lines for `dashboard.Series`, coloured from the palette in order (or by key from `colours`)."""
    colours = colours or {}
    return [Line(s.label, colours.get(s.key) or PALETTE[i % len(PALETTE)], s.values) for i, s in enumerate(series)]


def number(value: Decimal | int | float, places: int = 0) -> str:
    return f"{value:,.{places}f}"


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """0 and round steps up to at least `top` (1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks


def _frame(chart_id: str, title: str, desc: str, body: SafeString, height: int = HEIGHT) -> SafeString:
    return _svg(
        '<svg class="chart" role="img" aria-labelledby="{0}-title {0}-desc" viewBox="0 0 {1} {2}" '
        'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{0}-title">{3}</title><desc id="{0}-desc">{4}</desc>{5}</svg>',
        chart_id,
        WIDTH,
        height,
        title,
        desc,
        body,
    )


def _y_axis(ticks: list[float], y: Callable[[float], float], fmt: Callable[[float], str], unit: str) -> SafeString:
    grid = _svg_join(
        "",
        '<line x1="{0}" x2="{1}" y1="{2:.1f}" y2="{2:.1f}" stroke="{3}"/>'
        '<text x="{4}" y="{5:.1f}" text-anchor="end" fill="{6}" font-size="12">{7}</text>',
        ((LEFT, WIDTH - RIGHT, y(t), GRID, LEFT - 8, y(t) + 4, TEXT, fmt(t)) for t in ticks),
    )
    return _svg(
        '{0}<text x="{1}" y="{2}" fill="{3}" font-size="12" text-anchor="start">{4}</text>'
        '<line x1="{5}" x2="{6}" y1="{7:.1f}" y2="{7:.1f}" stroke="{8}"/>',
        grid,
        4,
        TOP - 4,
        TEXT,
        unit,
        LEFT,
        WIDTH - RIGHT,
        y(0),
        AXIS,
    )


def _x_labels(labels: Sequence[str], x: Callable[[int], float], base: float) -> SafeString:
    """Every k-th label, so that none overlap; always the first."""
    room = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    every = max(1, math.ceil(LABEL_WIDTH / room))
    return _svg_join(
        "",
        '<text x="{0:.1f}" y="{1:.1f}" text-anchor="middle" fill="{2}" font-size="12">{3}</text>',
        ((x(i), base + 18, TEXT, label) for i, label in enumerate(labels) if i % every == 0),
    )


def columns(
    chart_id: str,
    *,
    title: str,
    desc: str,
    labels: Sequence[str],
    lines: Sequence[Line],
    unit: str,
    places: int = 2,
) -> SafeString:
    """Stacked columns: a column per label, a segment per line (each segment's own tooltip)."""
    n = max(len(labels), 1)
    totals = [sum((line.values[i] for line in lines), 0) for i in range(len(labels))]
    ticks = nice_ticks(float(max(totals, default=0)))
    base, top = HEIGHT - BOTTOM, TOP + 8
    scale = (base - top) / ticks[-1]
    slot = (WIDTH - LEFT - RIGHT) / n
    width = min(slot * 0.7, 48)

    def x(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    def y(v: float | Decimal | int) -> float:
        return base - float(v) * scale

    segments = []
    for i, label in enumerate(labels):
        bottom = 0.0
        for line in lines:
            value = float(line.values[i])
            if value <= 0:
                continue
            height = value * scale
            segments.append(
                (
                    x(i) - width / 2,
                    y(bottom) - height,
                    width,
                    height,
                    line.colour,
                    label,
                    line.label,
                    number(value, places),
                )
            )
            bottom += value
    bars = _svg_join(
        "",
        '<rect x="{0:.1f}" y="{1:.1f}" width="{2:.1f}" height="{3:.1f}" fill="{4}" stroke="#fff" stroke-width="1">'
        "<title>{5}, {6}: {7}</title></rect>",
        segments,
    )
    body = _svg(
        "{}{}{}",
        _y_axis(ticks, y, lambda t: number(t, 0 if float(ticks[1]).is_integer() else 1), unit),
        bars,
        _x_labels(labels, x, base),
    )
    return _frame(chart_id, title, desc, body)


def lines_chart(
    chart_id: str, *, title: str, desc: str, labels: Sequence[str], lines: Sequence[Line], unit: str
) -> SafeString:
    """A line per series (values that don't add up, like distinct users), with a dot per point when there is room."""
    n = max(len(labels), 1)
    top_value = max((float(v) for line in lines for v in line.values), default=0)
    ticks = nice_ticks(max(top_value, 1))
    ticks = [t for t in ticks if float(t).is_integer()] or [0, 1]
    base, top = HEIGHT - BOTTOM, TOP + 8
    scale = (base - top) / ticks[-1]
    slot = (WIDTH - LEFT - RIGHT) / n

    def x(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    def y(v: float | Decimal | int) -> float:
        return base - float(v) * scale

    parts = []
    dots = slot >= 10
    for line in lines:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(line.values))
        parts.append(
            _svg(
                '<polyline points="{}" fill="none" stroke="{}" stroke-width="{}" stroke-linejoin="round"/>',
                points,
                line.colour,
                3 if line.bold else 2,
            )
        )
        if dots or n == 1:
            parts.append(
                _svg_join(
                    "",
                    '<circle cx="{0:.1f}" cy="{1:.1f}" r="{2}" fill="{3}"><title>{4}, {5}: {6}</title></circle>',
                    (
                        (x(i), y(v), 4 if line.bold else 3, line.colour, labels[i], line.label, number(v))
                        for i, v in enumerate(line.values)
                    ),
                )
            )
    body = _svg(
        "{}{}{}",
        _y_axis(ticks, y, lambda t: number(t), unit),
        _svg("{}" * len(parts), *parts),
        _x_labels(labels, x, base),
    )
    return _frame(chart_id, title, desc, body)


def bars(
    chart_id: str,
    *,
    title: str,
    desc: str,
    labels: Sequence[str],
    lines: Sequence[Line],
    unit: str,
    places: int = 2,
) -> SafeString:
    """Horizontal stacked bars, a row per label (the label left of its bar, the total at its end)."""
    row, label_room, gap = 28, 220, 8
    height = TOP + row * max(len(labels), 1) + 24
    totals = [sum((float(line.values[i]) for line in lines), 0.0) for i in range(len(labels))]
    top_value = max(totals, default=0) or 1
    span = WIDTH - RIGHT - label_room - 96
    scale = span / top_value
    rows = []
    for i, label in enumerate(labels):
        y = TOP + row * i
        short = label if len(label) <= 30 else label[:29] + "…"
        rows.append(
            _svg(
                '<text x="{}" y="{:.1f}" text-anchor="end" fill="{}" font-size="12">{}</text>',
                label_room - gap,
                y + row / 2 + 4,
                TEXT,
                short,
            )
        )
        left = float(label_room)
        for line in lines:
            value = float(line.values[i])
            if value <= 0:
                continue
            rows.append(
                _svg(
                    '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{}" fill="{}" stroke="#fff" stroke-width="1">'
                    "<title>{}, {}: {}</title></rect>",
                    left,
                    y + 4,
                    value * scale,
                    row - 8,
                    line.colour,
                    label,
                    line.label,
                    number(value, places),
                )
            )
            left += value * scale
        rows.append(
            _svg(
                '<text x="{:.1f}" y="{:.1f}" fill="{}" font-size="12">{}</text>',
                left + 6,
                y + row / 2 + 4,
                TEXT,
                number(totals[i], places),
            )
        )
    axis = _svg(
        '<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" stroke="{3}"/>'
        '<text x="{4}" y="{5}" fill="{6}" font-size="12" text-anchor="end">{7}</text>',
        label_room,
        TOP,
        TOP + row * len(labels),
        AXIS,
        WIDTH - RIGHT,
        height - 6,
        TEXT,
        unit,
    )
    return _frame(chart_id, title, desc, _svg("{}" * (len(rows) + 1), *rows, axis), height=height)


def legend_html(lines: Sequence[Line]) -> SafeString:
    """The chart's legend, in HTML (readable, wraps, zooms with the text): a swatch and the series' name each."""
    return _svg(
        '<ul class="chart-legend">{}</ul>',
        _svg_join(
            "",
            '<li><svg aria-hidden="true" width="14" height="14" viewBox="0 0 14 14" focusable="false">'
            '<rect width="14" height="14" rx="2" fill="{}"/></svg>{}</li>',
            ((line.colour, line.label) for line in lines),
        ),
    )
