"""What is open for a patient (issue 12 #6): one list, linked from the tier, with the
action that closes each item; resolving one item says why the tier stays; the nav badge
counts open alerts by severity; board rows say each reason once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.templatetags.pumptrack_tags import distinct_reasons
from refills import services
from refills.models import ReportKind
from reminders.models import Alert, AlertState

pytestmark = pytest.mark.django_db


def _page(client, patient) -> str:
    return client.get(reverse("dashboard:patient", args=[patient.pk])).content.decode()


def _section(html: str) -> str:
    return html.split('id="open-items"')[1].split("</section>")[0]


def test_resolving_the_symptoms_alert_says_the_open_report_holds_the_tier(
    nurse_client, filled_pump, nurse
):
    patient = filled_pump.patient
    report = services.pump_report_record(
        pump=filled_pump, by=nurse, kind=ReportKind.WITHDRAWAL_SYMPTOMS, details="Itching"
    )
    html = _page(nurse_client, patient)
    assert 'href="#open-items"' in html  # the tier links to the list
    items = _section(html)
    assert "Open pump report" in items and "holds the tier" in items
    assert reverse("dashboard:report_resolve", args=[report.pk]) in items
    assert "Reported problem" in items or "Alarm or symptoms reported" in items
    alert = Alert.objects.get(pump=filled_pump, kind="reported-problem")
    response = nurse_client.post(
        reverse("dashboard:alert_resolve", args=[alert.pk]),
        {"note": "Called the patient", "next": reverse("dashboard:patient", args=[patient.pk])},
        follow=True,
    )
    html = response.content.decode()
    assert "Alert resolved." in html
    assert "stays CRITICAL: open pump report" in html
    # The report closes it: resolved, the tier falls and nothing holds it any more.
    response = nurse_client.post(
        reverse("dashboard:report_resolve", args=[report.pk]),
        {"resolution": "Seen in clinic, pump checked"},
        follow=True,
    )
    html = response.content.decode()
    assert "stays CRITICAL" not in html
    assert "Open pump report" not in _section(html)


def test_a_low_patient_has_nothing_open(nurse_client, filled_pump):
    items = _section(_page(nurse_client, filled_pump.patient))
    assert "Nothing is open" in items


def test_the_board_tier_links_to_the_open_items(nurse_client, filled_pump):
    html = nurse_client.get(reverse("dashboard:board")).content.decode()
    assert reverse("dashboard:patient", args=[filled_pump.patient_id]) + "#open-items" in html


def test_nav_badge_counts_open_alerts_by_severity(nurse_client, filled_pump, nurse):
    services.pump_report_record(
        pump=filled_pump, by=nurse, kind=ReportKind.LOW_RESERVOIR_ALARM, details="Beeping"
    )
    # Open alerts only: the fixture's pump had no fill for a moment, and the no-fill
    # alert it raised then cleared itself when the fill was recorded.
    open_alerts = Alert.objects.filter(pump=filled_pump).exclude(state=AlertState.RESOLVED)
    severities = sorted(open_alerts.values_list("severity", flat=True))
    assert severities and 4 not in severities  # no critical alert open
    html = nurse_client.get(reverse("dashboard:board")).content.decode()
    for severity in set(severities):
        assert f"alert-count-{severity}" in html


def test_board_reasons_are_said_once():
    reasons = [
        {
            "code": "refill-by-passed",
            "tier": 3,
            "text": "The booked refill (Tue) is after "
            "the refill-by date and the refill-by date was yesterday",
        },
        {
            "code": "appointment-after-refill-by",
            "tier": 2,
            "text": "The booked refill (Tue) is after the refill-by date",
        },
        {"code": "x", "tier": 2, "text": "Same words"},
        {"code": "y", "tier": 1, "text": "Same words"},
    ]
    assert [r["code"] for r in distinct_reasons(reasons)] == ["refill-by-passed", "x"]
