"""Manager and auditor reports: HTML and CSV from the reports selectors."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.access import clinics_where
from accounts.decorators import CLINIC_FROM_QUERY, staff_view
from patients.models import Clinic
from pumptrack.csvexport import csv_response
from reports import audit, selectors
from reports.metrics import CATALOGUE

# A report of the clinic asked for (?clinic=id) or the user's first one, if the role allows it.
REPORT_REFUSAL = "Your role cannot see this report."


def _today(clinic: Clinic) -> dt.date:
    return timezone.localtime(timezone.now(), clinic.tz).date()


@staff_view("view_reports", scope=CLINIC_FROM_QUERY, refusal=REPORT_REFUSAL)
def report_index(request: HttpRequest, clinic: Clinic, allowed) -> HttpResponse:
    today = _today(clinic)
    return render(
        request,
        "reports/index.html",
        {
            "clinic": clinic,
            "clinics": list(clinics_where(request.user, "view_reports")),
            "today": today,
            "tiers": selectors.tier_summary(clinic=clinic, today=today),
            "months": selectors.monthly_activity(clinic=clinic, today=today),
            "columns": selectors.COLUMNS,
            "can_export_audit": "export_audit" in allowed,
            "catalogue": CATALOGUE,
        },
    )


def _csv_response(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    # Every export goes through the one neutralising writer (formula injection).
    return csv_response(filename, header, rows)


@staff_view("view_reports", scope=CLINIC_FROM_QUERY, refusal=REPORT_REFUSAL)
def activity_csv(request: HttpRequest, clinic: Clinic, allowed) -> StreamingHttpResponse:
    months = selectors.monthly_activity(clinic=clinic, today=_today(clinic))
    keys = [key for key, _ in selectors.COLUMNS]
    rows = (
        [
            f"{getattr(m, k):%Y-%m}"
            if k == "month"
            else ("" if getattr(m, k) is None else getattr(m, k))
            for k in keys
        ]
        for m in months
    )
    return _csv_response(
        f"pumptrack-activity-{clinic.pk}.csv", [label for _, label in selectors.COLUMNS], rows
    )


def _parse_day(value: str | None) -> dt.date | None:
    """A date from the query string; nonsense and the calendar's edges count as absent."""
    try:
        day = dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None
    if day is not None and not (dt.date(1900, 1, 1) <= day <= dt.date(9000, 1, 1)):
        return None
    return day


@staff_view("export_audit", scope=CLINIC_FROM_QUERY, refusal=REPORT_REFUSAL)
def audit_log(request: HttpRequest, clinic: Clinic, allowed) -> HttpResponse:
    since_day = _parse_day(request.GET.get("since")) or (_today(clinic) - dt.timedelta(days=30))
    until_day = _parse_day(request.GET.get("until"))
    since = dt.datetime.combine(since_day, dt.time.min, tzinfo=clinic.tz)
    until = (
        dt.datetime.combine(until_day + dt.timedelta(days=1), dt.time.min, tzinfo=clinic.tz)
        if until_day
        else None
    )
    entries = audit.audit_entries(clinic_ids=[clinic.pk], since=since, until=until)
    if request.GET.get("format") == "csv":
        rows = (
            [
                timezone.localtime(e.at, clinic.tz).isoformat(),
                e.model,
                e.object_id,
                e.change,
                e.user_id or "",
                e.username,
                " ".join(e.fields),
            ]
            for e in entries
        )
        return _csv_response(
            f"pumptrack-audit-{clinic.pk}-{since_day}.csv",
            ["when", "record", "record id", "change", "user id", "user", "fields changed"],
            rows,
        )
    return render(
        request,
        "reports/audit.html",
        {
            "clinic": clinic,
            "entries": list(reversed(entries))[:500],
            "total": len(entries),
            "since": since_day,
            "until": until_day,
        },
    )
