"""Read-only aggregates for clinic managers. A handful of SQL queries per report."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth

from patients.models import Clinic, PumpStatus
from refills.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    PumpForecast,
    Refill,
    RiskTier,
)
from refills.policy import work_queue_dta_days
from reminders.models import Alert, Notification


@dataclass
class MonthRow:
    month: dt.date
    refills: int = 0
    refills_on_time: int = 0
    refills_with_due_date: int = 0
    discrepancies_flagged: int = 0
    appointments_completed: int = 0
    appointments_missed: int = 0
    appointments_cancelled: int = 0
    reminders_sent: int = 0
    reminders_failed: int = 0
    reminders_suppressed: int = 0
    alerts_raised: int = 0
    alerts_critical: int = 0

    @property
    def on_time_percent(self) -> int | None:
        if not self.refills_with_due_date:
            return None
        return round(100 * self.refills_on_time / self.refills_with_due_date)


COLUMNS: tuple[tuple[str, str], ...] = (
    ("month", "Month"),
    ("refills", "Refills"),
    ("on_time_percent", "Refilled by the refill-by date (%)"),
    ("discrepancies_flagged", "Discrepancies flagged"),
    ("appointments_completed", "Refill visits completed"),
    ("appointments_missed", "Refill visits missed"),
    ("appointments_cancelled", "Refill visits cancelled"),
    ("reminders_sent", "Reminders sent"),
    ("reminders_failed", "Reminders failed"),
    ("reminders_suppressed", "Reminders not sent (opted out)"),
    ("alerts_raised", "Staff alerts raised"),
    ("alerts_critical", "Critical alerts"),
)


def _month_starts(today: dt.date, months: int) -> list[dt.date]:
    starts = []
    year, month = today.year, today.month
    for _ in range(months):
        starts.append(dt.date(year, month, 1))
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return list(reversed(starts))


def _by_month(queryset, date_field: str, tz: ZoneInfo, **counts) -> dict[dt.date, dict]:
    rows = (
        queryset.annotate(month=TruncMonth(date_field, tzinfo=tz))
        .values("month")
        .annotate(**counts)
        .order_by("month")
    )
    return {
        row["month"].date() if hasattr(row["month"], "date") else row["month"]: row for row in rows
    }


def monthly_activity(*, clinic: Clinic, today: dt.date, months: int = 12) -> list[MonthRow]:
    """Refills, visits, reminders and alerts per calendar month in the clinic's zone."""
    tz = clinic.tz
    starts = _month_starts(today, months)
    since = dt.datetime.combine(starts[0], dt.time.min, tzinfo=tz)
    rows = {start: MonthRow(month=start) for start in starts}

    refills = _by_month(
        Refill.objects.filter(pump__patient__clinic=clinic, performed_at__gte=since),
        "performed_at",
        tz,
        refills=Count("id"),
        flagged=Count("id", filter=Q(discrepancy_flagged=True)),
        with_due=Count("id", filter=Q(due_by__isnull=False)),
        on_time=Count("id", filter=Q(due_by__isnull=False, performed_on_time=True)),
    )
    for month, data in refills.items():
        if month in rows:
            row = rows[month]
            row.refills = data["refills"]
            row.discrepancies_flagged = data["flagged"]
            row.refills_with_due_date = data["with_due"]
            row.refills_on_time = data["on_time"]

    visits = _by_month(
        Appointment.objects.filter(
            patient__clinic=clinic, kind=AppointmentKind.REFILL, scheduled_start__gte=since
        ),
        "scheduled_start",
        tz,
        completed=Count("id", filter=Q(status=AppointmentStatus.COMPLETED)),
        missed=Count("id", filter=Q(status=AppointmentStatus.MISSED)),
        cancelled=Count("id", filter=Q(status=AppointmentStatus.CANCELLED)),
    )
    for month, data in visits.items():
        if month in rows:
            rows[month].appointments_completed = data["completed"]
            rows[month].appointments_missed = data["missed"]
            rows[month].appointments_cancelled = data["cancelled"]

    _add_reminders_and_alerts(rows, clinic=clinic, since=since, tz=tz)
    return [rows[start] for start in starts]


def _add_reminders_and_alerts(rows, *, clinic: Clinic, since: dt.datetime, tz: ZoneInfo) -> None:
    sent = _by_month(
        Notification.objects.filter(clinic=clinic, created_at__gte=since, staff_user__isnull=True),
        "created_at",
        tz,
        sent=Count("id", filter=Q(status__in=["sent", "delivered"])),
        failed=Count("id", filter=Q(status="failed")),
        suppressed=Count("id", filter=Q(status="suppressed")),
    )
    for month, data in sent.items():
        if month in rows:
            rows[month].reminders_sent = data["sent"]
            rows[month].reminders_failed = data["failed"]
            rows[month].reminders_suppressed = data["suppressed"]
    alerts = _by_month(
        Alert.objects.filter(clinic=clinic, raised_at__gte=since),
        "raised_at",
        tz,
        raised=Count("id"),
        critical=Count("id", filter=Q(severity=int(RiskTier.CRITICAL))),
    )
    for month, data in alerts.items():
        if month in rows:
            rows[month].alerts_raised = data["raised"]
            rows[month].alerts_critical = data["critical"]


@dataclass
class TierSummary:
    counts: dict[int, int] = field(default_factory=dict)
    # Active pumps due within the work-queue window (PUMPTRACK_POLICY WORK_QUEUE_DTA_DAYS)
    # with no refill booked before the refill-by date; the window is shown with the count.
    unbooked_within_work_queue: int = 0
    work_queue_days: int = 0
    total: int = 0

    def rows(self) -> list[tuple[str, int]]:
        return [(tier.label, self.counts.get(int(tier), 0)) for tier in reversed(RiskTier)]


def tier_summary(*, clinic: Clinic, today: dt.date) -> TierSummary:
    active = PumpForecast.objects.filter(
        pump__status=PumpStatus.ACTIVE, pump__patient__clinic=clinic
    )
    counts: dict[int, int] = defaultdict(int)
    for row in active.values("risk_tier").annotate(n=Count("pump")):
        counts[row["risk_tier"]] = row["n"]
    window = work_queue_dta_days()
    unbooked = active.filter(
        booked_before_refill_by=False, refill_by__lte=today + dt.timedelta(days=window)
    ).count()
    return TierSummary(
        counts=dict(counts),
        unbooked_within_work_queue=unbooked,
        work_queue_days=window,
        total=sum(counts.values()),
    )
