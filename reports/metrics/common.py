"""What every report shares: the scope (clinics, period, zone), the report's shape (key
figures, a chart, tables), and small SQL helpers. Reads only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Aggregate, DateField, DurationField, F, Func, QuerySet

from pumptrack.dates import WEEKDAY_DATE, date_text
from reports.charts import BarChart


@dataclass(frozen=True)
class Scope:
    """One clinic or all the user's clinics where reports are allowed, over a period of
    calendar days in `tz` (the clinic's zone; for several clinics, the one asked for)."""

    clinic_ids: tuple[int, ...]
    tz: ZoneInfo
    since: dt.date  # first day, inclusive
    until: dt.date  # last day, inclusive
    today: dt.date

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.since, dt.time.min, tzinfo=self.tz)

    @property
    def end(self) -> dt.datetime:
        """The first instant after the period (midnight after `until`, clinic time)."""
        return dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time.min, tzinfo=self.tz)


@dataclass(frozen=True)
class PatientRef:
    """A patient named in a table: shown as a link to the patient's page."""

    patient_id: int
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list] = field(default_factory=list)
    # Shown under the table, e.g. "First 200 of 1,234 shown; the CSV has them all."
    note: str = ""
    # Indexes of rows to mark (e.g. weeks over capacity).
    marked: frozenset[int] = field(default_factory=frozenset)


@dataclass
class Report:
    key: str
    title: str
    scope: Scope
    figures: list[tuple[str, object]] = field(default_factory=list)
    chart: BarChart | None = None
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # A report that looks ahead from today (the period filter does not apply): the days it
    # covers and their name, e.g. "the 12 weeks from today"; None for a period report.
    ahead: tuple[dt.date, dt.date] | None = None
    ahead_name: str = ""

    @property
    def covers(self) -> tuple[dt.date, dt.date]:
        """The first and last day the report counts: the period, or the days ahead."""
        return self.ahead or (self.scope.since, self.scope.until)


class AddDays(Func):
    """date + n days in SQL (n an integer column or value); NULL stays NULL."""

    output_field = DateField()

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL: date + integer = date
        date_sql, date_params = compiler.compile(self.source_expressions[0])
        days_sql, days_params = compiler.compile(self.source_expressions[1])
        return f"({date_sql} + ({days_sql})::integer)", [*date_params, *days_params]

    def as_sqlite(self, compiler, connection, **extra):
        date_sql, date_params = compiler.compile(self.source_expressions[0])
        days_sql, days_params = compiler.compile(self.source_expressions[1])
        return (
            f"date({date_sql}, (CAST(({days_sql}) AS integer) || ' days'))",
            [*date_params, *days_params],
        )


class _Median(Aggregate):
    """PostgreSQL's PERCENTILE_CONT(0.5): the median in one aggregate."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


def _days(value) -> float:
    if isinstance(value, dt.timedelta):
        return value.total_seconds() / 86400
    return float(value)


def median(queryset: QuerySet, expression) -> float | None:
    """The median of `expression` over the rows, in days for durations, in SQL: one
    PERCENTILE_CONT on PostgreSQL; elsewhere a count, then the middle one or two values by
    ORDER BY ... OFFSET. No row list reaches Python either way."""
    if connection.vendor == "postgresql":
        # Every median here is of a duration (an interval, in PostgreSQL).
        value = queryset.aggregate(_m=_Median(expression, output_field=DurationField()))["_m"]
        return None if value is None else _days(value)
    rows = queryset.annotate(_m=expression).filter(_m__isnull=False)
    n = rows.count()
    # Run even when empty, so a report's query count never depends on the data.
    middle = list(rows.order_by("_m").values_list("_m", flat=True)[max(n - 1, 0) // 2 : n // 2 + 1])
    if not middle:
        return None
    if isinstance(middle[0], dt.timedelta):
        return sum((m.total_seconds() for m in middle), 0.0) / len(middle) / 86400
    return float(sum(middle)) / len(middle)


def days_between(later: str, earlier: str):
    """later - earlier as a duration, for median() (days in the result)."""
    return F(later) - F(earlier)


def percent(part: int, whole: int) -> str:
    return "—" if not whole else f"{round(100 * part / whole)} %"


def days_text(value: float | None) -> str:
    """A duration in days as a person reads it: hours under two days."""
    if value is None:
        return "—"
    if value < 2:
        return f"{value * 24:.1f} hours"
    return f"{value:.1f} days"


def month_starts(since: dt.date, until: dt.date) -> list[dt.date]:
    out, day = [], since.replace(day=1)
    while day <= until:
        out.append(day)
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return out


def week_starts(since: dt.date, until: dt.date) -> list[dt.date]:
    """The Mondays of the weeks the period touches."""
    out, day = [], since - dt.timedelta(days=since.weekday())
    while day <= until:
        out.append(day)
        day += dt.timedelta(days=7)
    return out


def as_day(value) -> dt.date:
    """A Trunc result (date, or datetime in the zone asked for) as its calendar day."""
    return value.date() if isinstance(value, dt.datetime) else value


def local_day(value: dt.datetime | None, tz: ZoneInfo) -> dt.date | None:
    return None if value is None else value.astimezone(tz).date()


def patient_name(row: dict, prefix: str = "") -> PatientRef:
    """A PatientRef from a .values() row with <prefix>family_name, given_name, id."""
    return PatientRef(
        patient_id=row[f"{prefix}id"],
        name=f"{row[f'{prefix}family_name']}, {row[f'{prefix}given_name']}",
    )


# The project's one way of writing a day (pumptrack.dates: "Tue 4 Mar 2025", no leading
# zero), and its short forms for chart labels and months.
def day_text(day: dt.date) -> str:
    return date_text(day, WEEKDAY_DATE)


def short_day(day: dt.date) -> str:
    return date_text(day, "j M")


def month_text(day: dt.date) -> str:
    return date_text(day, "M Y")


def _edges(first: dt.date, last: dt.date, since: dt.date, until: dt.date, short) -> str:
    """' (from 3 Jun)', ' (to 20 Jun)', ' (3 Jun to 20 Jun)' when the period cuts the span
    first..last; '' when it covers it all. A partial week or month must not read as whole."""
    start, end = max(first, since), min(last, until)
    if start == first and end == last:
        return ""
    if end == last:
        return f" (from {short(start)})"
    if start == first:
        return f" (to {short(end)})"
    return f" ({short(start)} to {short(end)})"


def _month_end(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def month_label(month: dt.date, since: dt.date, until: dt.date) -> str:
    """'Jun 2026', or 'Jun 2026 (from 3 Jun)' for a month the period only partly covers."""
    return month_text(month) + _edges(month, _month_end(month), since, until, short_day)


def week_label(monday: dt.date, since: dt.date, until: dt.date, *, short: bool = False) -> str:
    """'Mon 1 Jun 2026' (or '1 Jun' for a chart), marked '(from Wed 3 Jun)' for a week the
    period only partly covers."""
    sunday = monday + dt.timedelta(days=6)
    if short:
        return short_day(monday) + _edges(monday, sunday, since, until, short_day)
    return day_text(monday) + _edges(monday, sunday, since, until, weekday_day)


def weekday_day(day: dt.date) -> str:
    return date_text(day, "D j M")
