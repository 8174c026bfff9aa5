"""The clinic's appointment calendar and the refills due week by week."""

from __future__ import annotations

import datetime as dt

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from accounts.decorators import WHERE_ALLOWED, staff_view

from .. import forms
from ..selectors.calendar import appointments_between, refills_due_by_week
from ..selectors.clinics import clinic_today


@staff_view("view_clinical", scope=WHERE_ALLOWED, refusal="You are not a member of any clinic.")
def calendar(request, clinics):
    clinic = clinics[0]
    wanted = request.GET.get("clinic")
    if wanted:
        clinic = next((c for c in clinics if str(c.pk) == wanted), None)
        if clinic is None:
            raise Http404("No such clinic.")
    zone = clinic.tz
    today = clinic_today(clinic)
    try:
        day = dt.date.fromisoformat(request.GET.get("day", "")) if request.GET.get("day") else today
    except ValueError:
        day = today
    if not forms.EARLIEST_YEAR <= day.year <= forms.LATEST_YEAR:
        day = today  # A week around year 1 or 9999 overflows: show this week instead.
    view_kind = "day" if request.GET.get("view") == "day" else "week"
    if view_kind == "day":
        first, days = day, 1
    else:
        first, days = day - dt.timedelta(days=day.weekday()), 7
    start = dt.datetime.combine(first, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(first + dt.timedelta(days=days), dt.time.min, tzinfo=zone)
    appointments = appointments_between(request.user, start, end, clinic=clinic)
    by_day: dict[dt.date, list] = {first + dt.timedelta(days=i): [] for i in range(days)}
    for appointment in appointments:
        by_day.setdefault(timezone.localtime(appointment.scheduled_start, zone).date(), []).append(
            appointment
        )
    overdue, weeks = refills_due_by_week(request.user, clinic=clinic, today=today)
    step = dt.timedelta(days=days)
    return render(
        request,
        "dashboard/calendar.html",
        {
            "clinic": clinic,
            "clinics": clinics,
            "tz": zone,
            "today": today,
            "day": day,
            "view": view_kind,
            "days": sorted(by_day.items()),
            "count": len(appointments),
            "previous": first - step,
            "next": first + step,
            "overdue": overdue,
            "weeks": weeks,
        },
    )
