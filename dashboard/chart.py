"""The reservoir chart as server-drawn SVG.

Pure Python on purpose (no Django): the caller passes every number and
instant, and gets back an SVG string with its own <title> and <desc> so a
screen reader gets the gist. Colours come from CSS classes (static css), so
the markup needs no inline style and works under a strict CSP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from html import escape

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Point = tuple[datetime, Decimal]


@dataclass(frozen=True)
class ResidualMark:
    """What was aspirated at a past refill, against what was expected."""

    at: datetime
    actual_ml: Decimal
    expected_ml: Decimal | None
    flagged: bool


@dataclass(frozen=True)
class Marker:
    """A vertical line: today, the refill-by date, an appointment."""

    at: datetime
    label: str
    kind: str  # "today", "refill-by", "appointment"


@dataclass(frozen=True)
class ReservoirChart:
    start: datetime
    end: datetime
    capacity_ml: Decimal
    alarm_ml: Decimal
    empty_ml: Decimal
    zone: tzinfo
    projection: tuple[Point, ...] = ()
    conservative: tuple[Point, ...] = ()
    past_segments: tuple[tuple[Point, Point], ...] = ()
    residuals: tuple[ResidualMark, ...] = ()
    markers: tuple[Marker, ...] = ()
    alarm_at: datetime | None = None
    conservative_alarm_at: datetime | None = None
    empty_at: datetime | None = None
    conservative_empty_at: datetime | None = None
    title: str = "Reservoir volume"
    extra_desc: tuple[str, ...] = field(default_factory=tuple)


# Written out, not Django's dateformat: this module stays pure (no Django import, so it
# renders in any process) and never depends on the server's locale. pumptrack.dates writes
# the same "Tue 4 Mar 2025" for Django code; tests/dashboard/test_pure.py checks both.
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

WIDTH = 760
HEIGHT = 320
LEFT, RIGHT, TOP, BOTTOM = 52, 20, 16, 64


def day_text(when: datetime | date, zone: tzinfo | None = None) -> str:
    """'Tue 4 Mar 2025', in `zone` for a moment."""
    if isinstance(when, datetime):
        when = when.astimezone(zone).date() if zone else when.date()
    return f"{_WEEKDAYS[when.weekday()]} {when.day} {_MONTHS[when.month - 1]} {when.year}"


def centred_window(
    now: datetime, *, earliest: datetime, latest: datetime
) -> tuple[datetime, datetime]:
    """A span with `now` in its middle that still holds `earliest` .. `latest`.

    On a phone the chart is scaled to the screen's width, not scrolled: centring on
    today keeps today, the refill-by date and the alarm line in view at once.
    """
    half = max(latest - now, now - earliest, timedelta(days=3))
    return now - half, now + half


def _num(value: float) -> str:
    return f"{value:.1f}"


class _Scale:
    def __init__(self, chart: ReservoirChart, width: int, height: int):
        self.start = chart.start.astimezone(UTC)
        self.end = chart.end.astimezone(UTC)
        if self.end <= self.start:
            self.end = self.start + timedelta(days=1)
        self.span = (self.end - self.start).total_seconds()
        self.top_ml = float(chart.capacity_ml) or 1.0
        self.x0, self.x1 = LEFT, width - RIGHT
        self.y0, self.y1 = height - BOTTOM, TOP

    def x(self, when: datetime) -> float:
        seconds = (when.astimezone(UTC) - self.start).total_seconds()
        fraction = min(max(seconds / self.span, 0.0), 1.0)
        return self.x0 + fraction * (self.x1 - self.x0)

    def y(self, ml: Decimal | float) -> float:
        fraction = min(max(float(ml) / self.top_ml, 0.0), 1.0)
        return self.y0 - fraction * (self.y0 - self.y1)

    def inside(self, when: datetime) -> bool:
        return self.start <= when.astimezone(UTC) <= self.end


def _ticks(chart: ReservoirChart) -> list[datetime]:
    """Mondays for short spans, first of the month for long ones, in the clinic's zone."""
    zone = chart.zone
    first = chart.start.astimezone(zone).date()
    last = chart.end.astimezone(zone).date()
    days = (last - first).days
    ticks: list[date] = []
    if days <= 70:
        day = first + timedelta(days=(7 - first.weekday()) % 7)
        while day <= last:
            ticks.append(day)
            day += timedelta(days=7)
    else:
        step = 1 if days <= 240 else 2
        year, month = first.year, first.month
        while True:
            month += 1
            if month > 12:
                year, month = year + 1, 1
            day = date(year, month, 1)
            if day > last:
                break
            if (month - 1) % step == 0:
                ticks.append(day)
    return [datetime(d.year, d.month, d.day, tzinfo=zone) for d in ticks]


def _polyline(points: tuple[Point, ...], scale: _Scale, css: str) -> str:
    if len(points) < 2:
        return ""
    coords = " ".join(f"{_num(scale.x(t))},{_num(scale.y(v))}" for t, v in points)
    return f'<polyline class="{css}" points="{coords}" fill="none"/>'


def _description(chart: ReservoirChart) -> str:
    """The gist for a screen reader: the window, the alarm volume and the projected dates."""
    zone = chart.zone
    desc = [
        f"Projected reservoir volume from {day_text(chart.start, zone)} "
        f"to {day_text(chart.end, zone)}.",
        f"Low-reservoir alarm at {chart.alarm_ml} mL.",
    ]
    if chart.alarm_at:
        desc.append(f"Projected alarm {day_text(chart.alarm_at, zone)}.")
    if chart.conservative_alarm_at:
        desc.append(f"Conservative alarm {day_text(chart.conservative_alarm_at, zone)}.")
    if chart.conservative_empty_at:
        desc.append(f"Conservative empty {day_text(chart.conservative_empty_at, zone)}.")
    if chart.empty_at:
        desc.append(f"Projected empty {day_text(chart.empty_at, zone)}.")
    desc.extend(chart.extra_desc)
    return " ".join(desc)


def _frame(chart: ReservoirChart, scale: _Scale, width: int, height: int) -> list[str]:
    """The <svg> opening, its title and description, and the plot background."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="reservoir-chart" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-title chart-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="chart-title">{escape(chart.title)}</title>',
        f'<desc id="chart-desc">{escape(_description(chart))}</desc>',
        f'<rect class="chart-bg" x="{scale.x0}" y="{scale.y1}" '
        f'width="{scale.x1 - scale.x0}" height="{scale.y0 - scale.y1}"/>',
    ]


def _volume_axis(chart: ReservoirChart, scale: _Scale) -> list[str]:
    """Horizontal grid lines and their mL labels, every 2, 4 or 5 mL by capacity."""
    parts = []
    capacity = float(chart.capacity_ml)
    step = 5.0 if capacity > 20 else (2.0 if capacity <= 10 else 4.0)
    level = 0.0
    while level <= capacity + 1e-9:
        y = scale.y(level)
        parts.append(
            f'<line class="chart-grid" x1="{scale.x0}" y1="{_num(y)}" '
            f'x2="{scale.x1}" y2="{_num(y)}"/>'
        )
        parts.append(
            f'<text class="chart-axis" x="{scale.x0 - 6}" y="{_num(y + 4)}" '
            f'text-anchor="end">{level:g} mL</text>'
        )
        level += step
    return parts


def _time_axis(chart: ReservoirChart, scale: _Scale) -> list[str]:
    parts = []
    for tick in _ticks(chart):
        x = scale.x(tick)
        parts.append(
            f'<line class="chart-grid" x1="{_num(x)}" y1="{scale.y1}" '
            f'x2="{_num(x)}" y2="{scale.y0}"/>'
        )
        local = tick.astimezone(chart.zone)
        parts.append(
            f'<text class="chart-axis" x="{_num(x)}" y="{scale.y0 + 16}" '
            f'text-anchor="middle">{local.day} {_MONTHS[local.month - 1]}</text>'
        )
    return parts


def _alarm_and_empty_lines(chart: ReservoirChart, scale: _Scale) -> list[str]:
    y_alarm = scale.y(chart.alarm_ml)
    y_empty = scale.y(chart.empty_ml)
    return [
        f'<line class="chart-alarm" x1="{scale.x0}" y1="{_num(y_alarm)}" '
        f'x2="{scale.x1}" y2="{_num(y_alarm)}"><title>Low-reservoir alarm volume '
        f"{chart.alarm_ml} mL</title></line>",
        f'<text class="chart-label chart-label-alarm" x="{scale.x1 - 4}" '
        f'y="{_num(y_alarm - 5)}" text-anchor="end">alarm {chart.alarm_ml} mL</text>',
        f'<line class="chart-empty" x1="{scale.x0}" y1="{_num(y_empty)}" '
        f'x2="{scale.x1}" y2="{_num(y_empty)}"><title>Empty: the pump can no longer deliver '
        f"({chart.empty_ml} mL)</title></line>",
        # Left-aligned, so it never sits on the alarm label at the right edge.
        f'<text class="chart-label chart-label-empty" x="{scale.x0 + 4}" '
        f'y="{_num(y_empty - 5)}" text-anchor="start">empty {chart.empty_ml} mL</text>',
    ]


def _past_fills(chart: ReservoirChart, scale: _Scale) -> list[str]:
    """Earlier fills, faint: what each fill was expected to leave at the next refill."""
    return [
        f'<line class="chart-past" x1="{_num(scale.x(t0))}" y1="{_num(scale.y(v0))}" '
        f'x2="{_num(scale.x(t1))}" y2="{_num(scale.y(v1))}"/>'
        for (t0, v0), (t1, v1) in chart.past_segments
    ]


def _markers(chart: ReservoirChart, scale: _Scale) -> list[str]:
    """Vertical markers, labels staggered so neighbours do not overlap."""
    parts = []
    for index, marker in enumerate(sorted(chart.markers, key=lambda m: m.at)):
        if not scale.inside(marker.at):
            continue
        x = scale.x(marker.at)
        css = f"chart-marker chart-marker-{escape(marker.kind)}"
        label = escape(marker.label)
        when = day_text(marker.at, chart.zone)
        parts.append(
            f'<line class="{css}" x1="{_num(x)}" y1="{scale.y1}" x2="{_num(x)}" '
            f'y2="{scale.y0}"><title>{label}: {when}</title></line>'
        )
        if marker.kind == "appointment":
            parts.append(
                f'<path class="chart-appointment" d="M{_num(x)},{scale.y0} '
                f'l-6,10 h12 z"><title>{label}: {when}</title></path>'
            )
        y_label = scale.y0 + 32 + (index % 2) * 14
        parts.append(
            f'<text class="chart-marker-label chart-marker-label-{escape(marker.kind)}" '
            f'x="{_num(x)}" y="{y_label}" text-anchor="middle">{label}</text>'
        )
    return parts


def _alarm_and_empty_points(chart: ReservoirChart, scale: _Scale) -> list[str]:
    """The alarm and empty moments on the projection."""
    parts = []
    for when, ml, css, text in (
        (chart.conservative_alarm_at, chart.alarm_ml, "chart-point-conservative", "Conservative"),
        (chart.alarm_at, chart.alarm_ml, "chart-point-alarm", "Projected alarm"),
        (
            chart.conservative_empty_at,
            chart.empty_ml,
            "chart-point-conservative-empty",
            "Conservative empty",
        ),
        (chart.empty_at, chart.empty_ml, "chart-point-empty", "Projected empty"),
    ):
        if when is not None and scale.inside(when):
            parts.append(
                f'<circle class="{css}" cx="{_num(scale.x(when))}" cy="{_num(scale.y(ml))}" '
                f'r="5"><title>{text}: {day_text(when, chart.zone)}</title></circle>'
            )
    return parts


def _residual(mark: ResidualMark, scale: _Scale, zone: tzinfo) -> list[str]:
    """A past refill: the aspirated residual, and what was expected with the gap between."""
    parts = []
    x = scale.x(mark.at)
    state = "flagged" if mark.flagged else "ok"
    on = day_text(mark.at, zone)
    if mark.expected_ml is not None:
        parts.append(
            f'<line class="chart-gap chart-gap-{state}" x1="{_num(x)}" '
            f'y1="{_num(scale.y(mark.expected_ml))}" x2="{_num(x)}" '
            f'y2="{_num(scale.y(mark.actual_ml))}"/>'
        )
        parts.append(
            f'<circle class="chart-expected" cx="{_num(x)}" '
            f'cy="{_num(scale.y(mark.expected_ml))}" r="4"><title>Expected residual '
            f"{mark.expected_ml} mL on {on}</title></circle>"
        )
    flag_text = " (discrepancy flagged)" if mark.flagged else ""
    parts.append(
        f'<circle class="chart-residual chart-residual-{state}" cx="{_num(x)}" '
        f'cy="{_num(scale.y(mark.actual_ml))}" r="5"><title>Residual aspirated '
        f"{mark.actual_ml} mL on {on}{flag_text}</title></circle>"
    )
    return parts


def render_svg(chart: ReservoirChart, *, width: int = WIDTH, height: int = HEIGHT) -> str:
    """The chart, back to front: frame, axes, reference lines, fills, markers, points."""
    scale = _Scale(chart, width, height)
    parts = [
        *_frame(chart, scale, width, height),
        *_volume_axis(chart, scale),
        *_time_axis(chart, scale),
        *_alarm_and_empty_lines(chart, scale),
        *_past_fills(chart, scale),
        _polyline(chart.conservative, scale, "chart-conservative"),
        _polyline(chart.projection, scale, "chart-projection"),
        *_markers(chart, scale),
        *_alarm_and_empty_points(chart, scale),
    ]
    for mark in chart.residuals:
        if scale.inside(mark.at):
            parts += _residual(mark, scale, chart.zone)
    parts.append("</svg>")
    return "".join(p for p in parts if p)
