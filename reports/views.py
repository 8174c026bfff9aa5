"""Manager and auditor reports: HTML and CSV from the reports selectors."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.access import can, clinics_for
from patients.models import Clinic
from pumptrack.csvexport import csv_response
from reports import audit, selectors


def _clinic_for(request: HttpRequest, action: str) -> Clinic:
    """The clinic asked for (?clinic=id) or the user's first one, if the role allows it."""
    clinics = clinics_for(request.user).order_by("name")
    wanted = request.GET.get("clinic")
    if wanted:
        # Ids beyond 64 bits cannot exist; refuse them before the database overflows.
        # isascii: "²" and "١" pass isdigit(); the length check keeps int() from
        # refusing a 5,000-digit string (Python's int-conversion limit) with a 500.
        valid = wanted.isascii() and wanted.isdigit() and len(wanted) < 20 and int(wanted) < 2**63
        clinic = clinics.filter(pk=int(wanted)).first() if valid else None
    else:
        # The first clinic where the role allows it: a physician here who is a nurse at a
        # clinic earlier in the alphabet must not be refused their own reports.
        clinic = next((c for c in clinics if can(request.user, action, c)), clinics.first())
    if clinic is None:
        raise Http404("No such clinic")
    if not can(request.user, action, clinic):
        raise PermissionDenied("Your role cannot see this report.")
    return clinic


def _today(clinic: Clinic) -> dt.date:
    return timezone.localtime(timezone.now(), clinic.tz).date()


@login_required
def report_index(request: HttpRequest) -> HttpResponse:
    clinic = _clinic_for(request, "view_reports")
    today = _today(clinic)
    return render(
        request,
        "reports/index.html",
        {
            "clinic": clinic,
            "clinics": [
                c for c in clinics_for(request.user) if can(request.user, "view_reports", c)
            ],
            "today": today,
            "tiers": selectors.tier_summary(clinic=clinic, today=today),
            "months": selectors.monthly_activity(clinic=clinic, today=today),
            "columns": selectors.COLUMNS,
            "can_export_audit": can(request.user, "export_audit", clinic),
        },
    )


def _csv_response(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    # Every export goes through the one neutralising writer (formula injection).
    return csv_response(filename, header, rows)


@login_required
def activity_csv(request: HttpRequest) -> StreamingHttpResponse:
    clinic = _clinic_for(request, "view_reports")
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


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    clinic = _clinic_for(request, "export_audit")
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
