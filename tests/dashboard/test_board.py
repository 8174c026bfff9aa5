"""The run-out board: order, groups computed at read time, stale tiers, filters, query count."""

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from refills import services
from refills.models import PumpForecast
from refills.risk import Tier
from reminders.sweep import sweep_run
from tests.factories import PatientFactory, PumpFactory, pump_model

BOARD = reverse("dashboard:board")


def _patient_order(html: str) -> list[str]:
    return re.findall(r'class="fw-semibold patient-link" href="[^"]+">([^<]+)</a>', html)


def _pump(clinic, family, **patient_fields):
    return PumpFactory(patient=PatientFactory(clinic=clinic, family_name=family, **patient_fields))


@pytest.fixture
def ward(clinic, nurse, filler):
    """Four patients, one per tier, created in the wrong order on purpose."""
    low = filler(_pump(clinic, "Lowrisk"), nurse, days_ago=30)
    moderate = filler(_pump(clinic, "Moderaterisk"), nurse, days_ago=60)
    critical = filler(_pump(clinic, "Criticalrisk"), nurse, days_ago=80)
    high = filler(_pump(clinic, "Highrisk"), nurse, days_ago=68)
    return {"low": low, "moderate": moderate, "high": high, "critical": critical}


def test_board_needs_login(client, db):
    response = client.get(BOARD)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_board_sorts_by_tier_then_conservative_alarm(nurse_client, ward):
    tiers = {k: p.forecast.risk_tier for k, p in ward.items()}
    assert tiers == {
        "low": Tier.LOW,
        "moderate": Tier.MODERATE,
        "high": Tier.HIGH,
        "critical": Tier.CRITICAL,
    }
    html = nurse_client.get(BOARD).content.decode()
    names = _patient_order(html)
    assert [n.split(",")[0] for n in names] == [
        "Criticalrisk",
        "Highrisk",
        "Moderaterisk",
        "Lowrisk",
    ]


def test_board_shows_reasons_dates_with_weekday_and_unbooked(nurse_client, ward):
    html = nurse_client.get(BOARD).content.decode()
    forecast = ward["high"].forecast
    refill_by = forecast.refill_by
    assert f"{refill_by:%a} {refill_by.day} {refill_by:%b %Y}" in html
    assert "Not booked" in html
    assert forecast.risk_reasons[0]["text"] in html


def test_same_tier_sorted_by_earlier_conservative_alarm(nurse_client, clinic, nurse, filler):
    filler(_pump(clinic, "Laterhigh"), nurse, days_ago=66)
    filler(_pump(clinic, "Soonerhigh"), nurse, days_ago=70)
    names = _patient_order(nurse_client.get(BOARD).content.decode())
    assert [n.split(",")[0] for n in names] == ["Soonerhigh", "Laterhigh"]


def test_group_is_computed_from_today_not_stored(nurse_client, as_user, clinic, nurse, filler):
    pump = filler(_pump(clinic, "Grouped"), nurse, days_ago=60)
    assert (pump.forecast.refill_by - timezone.localdate()).days in range(8, 31)
    # No worker: nothing restores the stored tier, so only the date arithmetic can move it.
    PumpForecast.objects.filter(pump=pump).update(reassess_at=None)
    html = nurse_client.get(BOARD + "?group=30").content.decode()
    assert "Grouped" in html
    # Sessions end after 30 idle minutes, so each jump in time signs in again.
    with time_machine.travel(timezone.now() + dt.timedelta(days=11), tick=False):
        html = as_user(nurse).get(BOARD + "?group=7").content.decode()
        assert "Grouped" in html
    with time_machine.travel(timezone.now() + dt.timedelta(days=30), tick=False):
        html = as_user(nurse).get(BOARD + "?group=overdue").content.decode()
        assert "Grouped" in html


def test_stale_tier_is_said_on_read_and_recomputed_by_the_sweep(as_user, clinic, nurse, filler):
    pump = filler(_pump(clinic, "Drifting"), nurse, days_ago=30)
    stored = PumpForecast.objects.get(pump=pump)
    assert stored.risk_tier == Tier.LOW
    assert stored.reassess_at is not None
    # Time passes beyond the moment the tier changes.
    with time_machine.travel(stored.reassess_at + dt.timedelta(days=20), tick=False):
        # Before the sweep runs, the board says the tier is due for a re-check; the GET
        # itself writes nothing (reads never write).
        html = as_user(nurse).get(BOARD).content.decode()
        before = PumpForecast.objects.get(pump=pump)
        assert before.risk_tier == Tier.LOW and before.computed_at == stored.computed_at
        row = html.split("<tbody>")[1].split("Drifting")[0].rsplit("<tr", 1)[1]
        assert "tier due for re-check" in row
        # The sweep keeps stored forecasts fresh; the board then shows its tier.
        sweep_run(now=timezone.now(), publish=lambda pk: None)
        html = as_user(nurse).get(BOARD).content.decode()
    stored.refresh_from_db()
    assert stored.risk_tier > Tier.LOW
    table = html.split("<tbody>")[1]
    row = table.split("Drifting")[0].rsplit("<tr", 1)[1]
    assert Tier(stored.risk_tier).label in row


def test_board_hides_other_clinics(nurse_client, ward, other_pump, nurse, filler):
    filler(other_pump, nurse, days_ago=80)
    html = nurse_client.get(BOARD).content.decode()
    assert "Elsewhere" not in html
    assert "Criticalrisk" in html


def test_filters_tier_booked_and_model(nurse_client, ward, nurse):
    html = nurse_client.get(BOARD + "?tier=4").content.decode()
    assert _patient_order(html) == [f"Criticalrisk, {ward['critical'].patient.given_name}"]
    # The group chips count under the other filters: one critical pump, overdue.
    assert 'All <span class="badge text-bg-light">1</span>' in html
    assert 'Refill overdue <span class="badge text-bg-light">1</span>' in html

    pump = ward["moderate"]
    start = timezone.now() + dt.timedelta(days=3)
    services.appointment_book(pump=pump, by=nurse, scheduled_start=start)
    html = nurse_client.get(BOARD + "?booked=in-time").content.decode()
    assert [n.split(",")[0] for n in _patient_order(html)] == ["Moderaterisk"]
    html = nurse_client.get(BOARD + "?booked=none").content.decode()
    assert "Moderaterisk" not in html and "Lowrisk" in html

    big = pump_model("8637-40").pk
    html = nurse_client.get(BOARD + f"?pump_model={big}").content.decode()
    assert _patient_order(html) == []
    assert "No pumps match these filters" in html


def test_search_by_name_and_mrn(nurse_client, ward):
    patient = ward["high"].patient
    html = nurse_client.get(BOARD, {"q": "highrisk"}).content.decode()
    assert [n.split(",")[0] for n in _patient_order(html)] == ["Highrisk"]
    html = nurse_client.get(BOARD, {"q": patient.mrn}).content.decode()
    assert [n.split(",")[0] for n in _patient_order(html)] == ["Highrisk"]
    html = nurse_client.get(BOARD, {"q": "Nobodyhere"}).content.decode()
    assert _patient_order(html) == []


def test_empty_board_says_what_to_do(nurse_client):
    html = nurse_client.get(BOARD).content.decode()
    assert "No active pumps yet" in html
    assert "record each pump" in html


def test_pagination(nurse_client, clinic, nurse, filler):
    for i in range(27):
        filler(_pump(clinic, f"Paged{i:02d}"), nurse, days_ago=30)
    first = nurse_client.get(BOARD).content.decode()
    second = nurse_client.get(BOARD + "?page=2").content.decode()
    assert len(_patient_order(first)) == 25
    assert len(_patient_order(second)) == 2
    assert "Page 2 of 2" in second


def _board_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(BOARD)
    assert response.status_code == 200
    return len(queries)


def test_query_count_does_not_grow_with_rows(
    nurse_client, clinic, nurse, filler, django_assert_max_num_queries
):
    for i in range(5):
        filler(_pump(clinic, f"Few{i}"), nurse, days_ago=30 + i * 10)
    with_five = _board_queries(nurse_client)
    for i in range(45):
        filler(_pump(clinic, f"Many{i}"), nurse, days_ago=30 + (i % 5) * 10)
    with django_assert_max_num_queries(with_five):
        response = nurse_client.get(BOARD)
    assert len(_patient_order(response.content.decode())) == 25
