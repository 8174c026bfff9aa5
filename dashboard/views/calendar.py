"""The clinic's appointment calendar and the refills due week by week."""

from __future__ import annotations

import datetime as dt

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from accounts.decorators import WHERE_ALLOWED, staff_view
from refills.selectors import clinic_hours

from .. import forms
from ..selectors.calendar import appointments_between, refills_due_by_week
from ..selectors.clinics import clinic_today


def _shown_days(by_day: dict, hours) -> list[tuple[dt.date, list, str]]:
    """Each day with its appointments and why the clinic is shut ("" when open). A day the
    clinic never works is left out unless something is booked on it (to be moved); a
    closure is shown greyed with its reason."""
    shown = []
    for day, items in sorted(by_day.items()):
        closure = hours.closure_on(day)
        if closure is not None:
            shown.append((day, items, f"Closed: {closure.reason}"))
        elif not hours.works_on_weekday(day):
            if items:
                shown.append((day, items, "Closed: not a working day"))
        else:
            shown.append((day, items, ""))
    return shown


def _wanted_day(text: str, today: dt.date) -> tuple[dt.date, bool]:
    """The day asked for, or today and True when the text is not a date we can show
    (the page then says so rather than silently showing this week)."""
    if not text:
        return today, False
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return today, True
    if not forms.EARLIEST_YEAR <= day.year <= forms.LATEST_YEAR:
        return today, True  # A week around year 1 or 9999 overflows.
    return day, False


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
    day, unreadable = _wanted_day(request.GET.get("day", ""), today)
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
    hours = clinic_hours(clinic=clinic, from_day=first)
    return render(
        request,
        "dashboard/calendar.html",
        {
            "clinic": clinic,
            "clinics": clinics,
            "tz": zone,
            "today": today,
            "day": day,
            "day_unreadable": unreadable,
            "view": view_kind,
            "days": _shown_days(by_day, hours),
            "count": len(appointments),
            "previous": first - step,
            "next": first + step,
            "overdue": overdue,
            "weeks": weeks,
        },
    )
