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
from reports import selectors
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
            "can_see_audit": "view_audit" in allowed,
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
