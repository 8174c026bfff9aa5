"""Invariant (issue 8): for any today and any stored forecast, every date the emergency card
and the patient page show that is before the clinic's today is flagged, and none after it is;
an alarm, empty or appointment date on or after end of service is marked as not reachable.

Checked on the pure rule (refills/shown_dates.py, many examples) and through a stored forecast,
the selector, the rendered HTML card and the PDF (a few examples: each is a page and a PDF).
"""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import selectors
from dashboard.chart import day_text
from dashboard.pdf import emergency_card_pdf
from refills.models import PumpForecast, RefillByReason
from refills.shown_dates import shown_dates
from tests.dashboard.test_emergency_card_contents import pdf_text
from tests.factories import PatientFactory, PumpFactory

ZONES = ["America/New_York", "Pacific/Auckland", "Europe/London", "Asia/Kolkata", "UTC"]
BASE = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
SPAN = 200 * 24 * 60  # minutes either side of BASE

moments = st.integers(-SPAN, SPAN).map(lambda m: BASE + dt.timedelta(minutes=m))
days = st.integers(-200, 200).map(lambda d: BASE.date() + dt.timedelta(days=d))
maybe = st.one_of(st.none(), moments)
maybe_day = st.one_of(st.none(), days)


def _check(dates, *, now, zone):
    today = now.astimezone(zone).date()
    assert dates.today == today
    stop = dates.end_of_service.day if dates.end_of_service else None
    for shown in dates.shown():
        if shown.day < today:
            assert shown.passed, shown
            assert shown.note.startswith("passed"), shown
        if shown.day > today:
            assert not shown.passed, shown
            assert "passed" not in shown.note and "today" not in shown.note, shown
        if shown.kind in ("conservative_alarm", "alarm", "empty", "next_refill"):
            unreachable = stop is not None and shown.day >= stop
            assert shown.after_end_of_service == unreachable, shown
            assert ("the pump stops before this date" in shown.note) == unreachable, shown
    if stop is not None:
        assert bool(dates.stopped_line) == (stop <= today)


@given(
    now=moments,
    zone=st.sampled_from(ZONES),
    refill_by=maybe_day,
    conservative_alarm_at=maybe,
    alarm_at=maybe,
    empty_at=maybe,
    next_refill_at=maybe,
    eri_on=maybe_day,
    shutdown_on=maybe_day,
)
@settings(max_examples=300)
def test_every_passed_date_is_flagged_and_no_future_one(now, zone, **fields):
    zone = ZoneInfo(zone)
    dates = shown_dates(now=now, zone=zone, eri_to_eos_days=90, **fields)
    _check(dates, now=now, zone=zone)


def _flag_in(text: str, shown, zone, *, basis: str = "") -> bool:
    between = rf" \({re.escape(basis)}\)" if basis else r"(, \d\d:\d\d)?"
    pattern = re.escape(day_text(shown.when, zone)) + between + r" \(" + re.escape(shown.note)
    return re.search(pattern, text) is not None


@pytest.mark.django_db
@given(
    now=moments,
    zone=st.sampled_from(ZONES),
    refill_by=maybe_day,
    conservative_alarm_at=maybe,
    alarm_at=maybe,
    empty_at=maybe,
    next_refill_at=maybe,
    eri_on=maybe_day,
    shutdown_shift=st.integers(-60, 60),
)
@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_card_and_page_flag_every_passed_stored_date(
    as_user, clinic, nurse, now, zone, eri_on, shutdown_shift, **stored
):
    clinic.timezone = zone
    clinic.save(update_fields=["timezone"])
    tz = ZoneInfo(zone)
    patient = PatientFactory(clinic=clinic)
    pump = PumpFactory(patient=patient, implanted_on=dt.date(2022, 3, 1), eri_on=eri_on)
    # The 7-year shut-down falls somewhere around `now` in some examples.
    life = pump.model.max_service_life_days
    implanted = now.date() - dt.timedelta(days=life) + dt.timedelta(days=shutdown_shift)
    pump.implanted_on = implanted
    pump.save(update_fields=["implanted_on"])
    PumpForecast.objects.update_or_create(
        pump=pump,
        defaults={
            "computed_at": now,
            "refill_by_reason": RefillByReason.choices[0][0],
            "risk_tier": 4,
            "reassess_at": None,
            **stored,
        },
    )

    card = selectors.emergency_card(patient, now=now)
    _check(card.dates, now=now, zone=tz)
    with time_machine.travel(now, tick=False):
        client = as_user(nurse)
        html = client.get(reverse("dashboard:emergency_card", args=[patient.pk])).content
        page = client.get(reverse("dashboard:patient", args=[patient.pk])).content
    html = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode()))
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.decode()))
    pdf = pdf_text(emergency_card_pdf(card)).replace("\\227", "—")
    for text in (html, pdf):
        flagged = [d for d in card.dates.shown() if d.note and d.kind != "empty"]
        for shown in flagged:
            basis = card.dates.end_of_service_basis if shown.kind == "end_of_service" else ""
            assert _flag_in(text, shown, tz, basis=basis), (shown, text)
        # No flag the selector did not give: as many "(passed" as passed dates shown.
        passed = [d for d in flagged if d.note.startswith("passed")]
        assert text.count("(passed") == len(passed)
        if card.dates.empty and card.dates.empty.passed:
            assert "The reservoir may be empty" in text
        else:
            assert "The reservoir may be empty" not in text
        assert (card.dates.stopped_line in text) if card.dates.stopped_line else True
    for shown in card.dates.shown():
        if shown.passed and shown.kind not in ("empty", "shutdown"):
            assert f"({shown.note}" in page, (shown, page)
    assert page.count("(passed") == sum(
        1 for d in card.dates.shown() if d.note.startswith("passed") and d.kind != "empty"
    )
