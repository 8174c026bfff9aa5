"""Bar charts for the reports as server-drawn SVG.

Pure Python on purpose (no Django import; the reports pages and the PDFs draw from the
same numbers): the caller passes labels and series, and gets back SVG markup with its
own <title> and <desc> so a screen reader gets the gist. Colours come from CSS classes
(static css/pumptrack.css), so the markup needs no inline style under the strict CSP.
This lives in reports, not beside dashboard/chart.py: the page apps may not import each
other (import-linter's layers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

WIDTH = 900
HEIGHT = 300
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 28, 70


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float | int, ...]
    css: str = "s1"  # bar-s1 ... bar-s7 in pumptrack.css


@dataclass(frozen=True)
class BarChart:
    title: str
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    # A horizontal line per bar (e.g. the week's refill slots), drawn over the bars.
    limits: tuple[float | None, ...] = ()
    limit_name: str = ""
    # Bars whose index is here are drawn with a warning outline (e.g. overflowing weeks).
    flagged: frozenset[int] = field(default_factory=frozenset)
    stacked: bool = True


def _nice_top(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def axis_top(chart: BarChart) -> float:
    if chart.stacked:
        heights = [sum(s.values[i] for s in chart.series) for i in range(len(chart.labels))]
    else:
        heights = [v for s in chart.series for v in s.values]
    heights += [v for v in chart.limits if v is not None]
    return _nice_top(max(heights, default=0))


def _f(value: float) -> str:
    return f"{value:.1f}"


def _bars(chart: BarChart, top: float) -> list[str]:
    n = max(len(chart.labels), 1)
    slot = (WIDTH - LEFT - RIGHT) / n
    plot_h = HEIGHT - TOP - BOTTOM
    out: list[str] = []
    groups = 1 if chart.stacked else max(len(chart.series), 1)
    bar_w = slot * 0.7 / groups
    for i, label in enumerate(chart.labels):
        x0 = LEFT + i * slot + slot * 0.15
        base = HEIGHT - BOTTOM
        for j, series in enumerate(chart.series):
            value = series.values[i]
            h = plot_h * value / top
            x = x0 if chart.stacked else x0 + j * bar_w
            y = base - h
            if value:
                out.append(
                    f'<rect class="bar bar-{series.css}" x="{_f(x)}" y="{_f(y)}" '
                    f'width="{_f(bar_w)}" height="{_f(h)}">'
                    f"<title>{escape(label)}: {escape(series.name)} {value}</title></rect>"
                )
            if chart.stacked:
                base = y
        if i in chart.flagged:
            out.append(
                f'<rect class="bar-flag" x="{_f(x0 - 2)}" y="{TOP}" width="{_f(slot * 0.7 + 4)}" '
                f'height="{plot_h}"><title>{escape(label)}: over capacity</title></rect>'
            )
        if i < len(chart.limits) and chart.limits[i] is not None:
            y = HEIGHT - BOTTOM - plot_h * chart.limits[i] / top
            out.append(
                f'<line class="bar-limit" x1="{_f(x0 - 4)}" x2="{_f(x0 + slot * 0.7 + 4)}" '
                f'y1="{_f(y)}" y2="{_f(y)}"/>'
            )
        out.append(_label(label, i, n, x0, slot))
    return out


def _label(label: str, i: int, n: int, x0: float, slot: float) -> str:
    """Few bars: the label level under its bar, cut to the bar's width (the full text in
    a <title>). Many bars (weeks, days): every label, or every other one, slanted."""
    ly = HEIGHT - BOTTOM + 14
    if n <= 8:
        room = max(int(slot / 6.5), 4)
        # A mark such as "(from 3 Jun)" goes on a second line rather than being cut off.
        lines = split_label(label) if len(label) > room else [label]
        cx = _f(x0 + slot * 0.35)
        spans = "".join(
            f'<tspan x="{cx}" dy="{0 if k == 0 else 12}">{escape(_cut(line, room))}</tspan>'
            for k, line in enumerate(lines)
        )
        return (
            f'<text class="bar-label" x="{cx}" y="{ly}" text-anchor="middle">'
            f"<title>{escape(label)}</title>{spans}</text>"
        )
    if n > 16 and i % 2:
        return ""
    lx = x0 + slot * 0.35
    return (
        f'<text class="bar-label" x="{_f(lx)}" y="{ly}" text-anchor="end" '
        f'transform="rotate(-40 {_f(lx)} {ly})">{escape(label)}</text>'
    )


def split_label(label: str) -> list[str]:
    """'Jun 2026 (from 3 Jun)' as ['Jun 2026', '(from 3 Jun)']: the mark on its own line."""
    head, mark, tail = label.partition(" (")
    return [head, "(" + tail] if mark else [label]


def _cut(text: str, room: int) -> str:
    return text if len(text) <= room else text[: room - 1] + "…"


def tick_count(top: float) -> int:
    """Gridlines that fall on whole numbers for the round tops _nice_top gives."""
    for count in (5, 4, 2):
        if top >= count and (top / count) == int(top / count):
            return count
    return 1


def _axis(top: float) -> list[str]:
    out = []
    plot_h = HEIGHT - TOP - BOTTOM
    ticks = tick_count(top)
    for k in range(ticks + 1):
        value = top * k / ticks
        y = HEIGHT - BOTTOM - plot_h * k / ticks
        text = f"{value:g}" if value != int(value) else str(int(value))
        out.append(
            f'<line class="bar-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_f(y)}" y2="{_f(y)}"/>'
            f'<text class="bar-axis" x="{LEFT - 6}" y="{_f(y + 4)}" text-anchor="end">{text}</text>'
        )
    return out


def _legend(chart: BarChart) -> list[str]:
    out, x = [], LEFT
    for series in chart.series:
        out.append(
            f'<rect class="bar bar-{series.css}" x="{x}" y="8" width="12" height="12"/>'
            f'<text class="bar-axis" x="{x + 16}" y="18">{escape(series.name)}</text>'
        )
        x += 24 + 7 * len(series.name)
    if chart.limit_name:
        out.append(
            f'<line class="bar-limit" x1="{x}" x2="{x + 14}" y1="14" y2="14"/>'
            f'<text class="bar-axis" x="{x + 18}" y="18">{escape(chart.limit_name)}</text>'
        )
    return out


def describe(chart: BarChart) -> str:
    """One sentence per series: its total and its largest bar (for <desc> and the PDF)."""
    parts = []
    for series in chart.series:
        total = sum(series.values)
        if series.values and total:
            i = max(range(len(series.values)), key=lambda k: series.values[k])
            parts.append(f"{series.name}: {total:g} in all, most in {chart.labels[i]}.")
        else:
            parts.append(f"{series.name}: none.")
    if chart.flagged:
        parts.append(f"{len(chart.flagged)} over capacity.")
    return " ".join(parts)


def bar_chart_svg(chart: BarChart) -> str:
    """The chart as an <svg> element sized by its viewBox (it scales with the page)."""
    top = axis_top(chart)
    body = _axis(top) + _bars(chart, top) + _legend(chart)
    return (
        f'<svg class="report-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-title">{escape(chart.title)}</title>'
        f'<desc id="chart-desc">{escape(describe(chart))}</desc>' + "".join(body) + "</svg>"
    )
