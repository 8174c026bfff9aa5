"""Explant without replacement: the pump comes out, nothing replaces it, tracking stops."""

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.access import PERMISSIONS
from accounts.models import Role
from dashboard.selectors import clinic_today
from patients import services as patient_services
from patients.models import Pump, PumpStatus
from refills import receivers, services
from refills.models import Appointment, AppointmentKind, AppointmentStatus
from reminders.models import Alert, AlertState, Notification, NotificationStatus
from reminders.sweep import sweep_run
from tests.factories import staff

REASON = "Pocket infection; therapy stopped"


def _url(pump) -> str:
    return reverse("dashboard:pump_explant", args=[pump.pk])


def _data(pump, **overrides) -> dict:
    data = {
        "explanted_on": clinic_today(pump.patient.clinic).isoformat(),
        "explant_reason": REASON,
        "understood": "on",
    }
    data.update(overrides)
    return data


def _field_html(html: str, name: str) -> str:
    return html.split(f'id="div_id_{name}"')[1].split('id="div_id_')[0]


def _book(pump, by, *, days: int, kind=AppointmentKind.REFILL) -> Appointment:
    start = timezone.localtime(timezone.now(), pump.patient.clinic.tz).replace(
        hour=10, minute=0, second=0, microsecond=0
    ) + dt.timedelta(days=days)
    return services.appointment_book(
        pump=pump, by=by, scheduled_start=start, kind=kind, override_reason="test booking"
    )


@pytest.fixture
def running_low(pump, physician, filler):
    """Filled 80 days ago: the reservoir is running out, so a CRITICAL alert is open."""
    return filler(pump, physician, days_ago=80)


@pytest.fixture
def booked(running_low, physician):
    """Two refill visits and a check booked for the pump (physician override: late)."""
    return [
        _book(running_low, physician, days=2),
        _book(running_low, physician, days=9),
        _book(running_low, physician, days=5, kind=AppointmentKind.CHECK),
    ]


@pytest.fixture
def discrepancy_alert(running_low):
    """An alert of a kind that needs a person to resolve it, due to escalate now."""
    return Alert.objects.create(
        clinic=running_low.patient.clinic,
        patient=running_low.patient,
        pump=running_low,
        kind="discrepancy",
        severity=3,
        reasons=["Unexplained volume discrepancy at the last refill"],
        next_escalation_at=timezone.now() - dt.timedelta(minutes=1),
    )


# --------------------------------------------------------------------------- access


def test_the_page_needs_login(client, pump):
    for response in (client.get(_url(pump)), client.post(_url(pump), _data(pump))):
        assert response.status_code == 302
        assert response.url.startswith(reverse("accounts:login"))
    pump.refresh_from_db()
    assert pump.status == PumpStatus.ACTIVE


def test_another_clinics_pump_is_404(as_user, other_clinic, pump):
    outsider = as_user(staff(other_clinic, Role.PHYSICIAN))
    assert outsider.get(_url(pump)).status_code == 404
    assert outsider.post(_url(pump), _data(pump)).status_code == 404
    pump.refresh_from_db()
    assert pump.status == PumpStatus.ACTIVE


@pytest.mark.parametrize("role", [r for r, _ in Role.choices])
def test_only_nurses_and_physicians_may_explant(as_user, clinic, pump, role):
    client = as_user(staff(clinic, role))
    allowed = role in PERMISSIONS["manage_pump"]
    assert allowed == (role in (Role.NURSE, Role.PHYSICIAN))
    assert client.get(_url(pump)).status_code == (200 if allowed else 403)
    page = client.get(reverse("dashboard:patient", args=[pump.patient_id])).content.decode()
    assert (_url(pump) in page) == allowed
    if not allowed:
        assert client.post(_url(pump), _data(pump)).status_code == 403
        pump.refresh_from_db()
        assert pump.status == PumpStatus.ACTIVE


@pytest.mark.parametrize("role", [Role.SCHEDULER, Role.AUDITOR])
def test_scheduler_and_auditor_are_refused_and_nothing_changes(as_user, clinic, booked, role):
    client = as_user(staff(clinic, role))
    pump = booked[0].pump
    assert client.post(_url(pump), _data(pump)).status_code == 403
    pump.refresh_from_db()
    assert pump.status == PumpStatus.ACTIVE
    assert not Appointment.objects.filter(status=AppointmentStatus.CANCELLED).exists()


# --------------------------------------------------------------------------- the form


def test_the_page_warns_about_withdrawal_and_lists_what_is_cancelled(
    nurse_client, booked, discrepancy_alert
):
    html = nurse_client.get(_url(booked[0].pump)).content.decode()
    assert "no longer" in html or "stops tracking" in html
    assert "No refill reminders" in html
    assert "withdrawal" in html
    assert "physician has a plan" in html
    assert html.count("Refill, ") == 2 and "Check / reprogramming, " in html
    assert "alerts for this pump are closed" in html


def test_future_date_is_refused_in_place(nurse_client, pump):
    tomorrow = clinic_today(pump.patient.clinic) + dt.timedelta(days=1)
    html = nurse_client.post(
        _url(pump), _data(pump, explanted_on=tomorrow.isoformat())
    ).content.decode()
    assert "cannot be in the future" in _field_html(html, "explanted_on")
    pump.refresh_from_db()
    assert pump.status == PumpStatus.ACTIVE


def test_date_before_the_implant_is_refused_in_place(nurse_client, pump):
    before = pump.implanted_on - dt.timedelta(days=1)
    html = nurse_client.post(_url(pump), _data(pump, explanted_on=before.isoformat()))
    html = html.content.decode()
    assert "before the implant date" in _field_html(html, "explanted_on")
    pump.refresh_from_db()
    assert pump.status == PumpStatus.ACTIVE


def test_missing_reason_and_confirmation_are_refused_in_place(nurse_client, pump):
    html = nurse_client.post(
        _url(pump), _data(pump, explant_reason="   ", understood="")
    ).content.decode()
    assert "Say why the pump was removed." in _field_html(html, "explant_reason")
    assert "physician has a plan" in _field_html(html, "understood")
    assert "The explant was not recorded" in html
    pump.refresh_from_db()
    assert pump.status == PumpStatus.ACTIVE


def test_the_page_has_no_inline_script_or_style_and_labels_every_input(nurse_client, pump):
    html = nurse_client.get(_url(pump)).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert "style=" not in html
    ids = re.findall(r'<(?:input|select|textarea)[^>]*\bid="(id_[^"]+)"', html)
    assert set(ids) == {"id_explanted_on", "id_explant_reason", "id_understood"}
    for input_id in ids:
        assert f'for="{input_id}"' in html, input_id


# --------------------------------------------------------------------------- a good save


def test_a_good_save_explants_cancels_bookings_and_stops_reminders_and_alerts(
    nurse_client, nurse, booked, discrepancy_alert
):
    pump = booked[0].pump
    patient = pump.patient
    assert Alert.objects.filter(pump=pump, kind="running-out", state=AlertState.OPEN).exists()
    assert Notification.objects.filter(
        appointment__pump=pump, status=NotificationStatus.PENDING
    ).exists()
    board = nurse_client.get(reverse("dashboard:board")).content.decode()
    assert reverse("dashboard:patient", args=[patient.pk]) in board

    response = nurse_client.post(_url(pump), _data(pump))
    assert response.status_code == 302
    assert response.url == reverse("dashboard:patient", args=[patient.pk])

    pump.refresh_from_db()
    assert pump.status == PumpStatus.EXPLANTED
    assert pump.explanted_on == clinic_today(patient.clinic)
    assert pump.explant_reason == REASON
    # Every booked visit of the pump is cancelled, with the reason, by the nurse.
    for appointment in booked:
        appointment.refresh_from_db()
        assert appointment.status == AppointmentStatus.CANCELLED
        assert REASON in appointment.cancellation_reason
        assert "not replaced" in appointment.cancellation_reason
        assert appointment.history.first().history_user == nurse
    # No reminder is left to go out, and no alert is open for the pump.
    assert not Notification.objects.filter(
        appointment__pump=pump, status=NotificationStatus.PENDING
    ).exists()
    assert not Alert.objects.filter(pump=pump).exclude(state=AlertState.RESOLVED).exists()
    discrepancy_alert.refresh_from_db()
    assert discrepancy_alert.resolved_by == nurse
    assert REASON in discrepancy_alert.resolution_note
    assert discrepancy_alert.next_escalation_at is None
    # The change history has the explant, by whom, with the reason.
    record = pump.history.first()
    assert record.status == PumpStatus.EXPLANTED
    assert record.explant_reason == REASON
    assert record.history_user == nurse
    # The board no longer lists the pump; the patient page shows it as an earlier pump.
    board = nurse_client.get(reverse("dashboard:board")).content.decode()
    assert reverse("dashboard:patient", args=[patient.pk]) not in board
    page = nurse_client.get(reverse("dashboard:patient", args=[patient.pk])).content.decode()
    assert "No active pump recorded" in page
    assert f"SN {pump.serial_number}" in page and REASON in page
    assert _url(pump) not in page
    assert "Pump changed by" in page and "explant reason" in page  # the change history


def test_the_sweep_does_not_alert_or_remind_about_an_explanted_pump(
    nurse_client, booked, discrepancy_alert
):
    pump = booked[0].pump
    assert nurse_client.post(_url(pump), _data(pump)).status_code == 302
    explanted_at = timezone.now()
    alerts_before = Alert.objects.count()
    # Later: the booked times pass, escalation is due, the reservoir's dates pass.
    for hours in (1, 50, 24 * 6, 24 * 20):
        sweep_run(now=explanted_at + dt.timedelta(hours=hours), publish=lambda pk: None)
    assert Alert.objects.count() == alerts_before
    assert not Alert.objects.filter(pump=pump).exclude(state=AlertState.RESOLVED).exists()
    assert not Notification.objects.filter(
        kind="staff-escalation", created_at__gt=explanted_at
    ).exists()
    assert not Notification.objects.filter(
        patient=pump.patient, status=NotificationStatus.PENDING
    ).exists()
    assert not Appointment.objects.filter(pump=pump, status=AppointmentStatus.MISSED).exists()


def test_an_already_explanted_pump_goes_back_to_the_patient(nurse_client, pump):
    patient_services._pump_explant(
        pump=pump, explanted_on=clinic_today(pump.patient.clinic), reason="Replaced"
    )
    response = nurse_client.post(_url(pump), _data(pump, explant_reason="Again"))
    assert response.status_code == 302
    pump.refresh_from_db()
    assert pump.explant_reason == "Replaced"


def test_nothing_is_saved_when_a_step_fails(nurse_client, booked, monkeypatch):
    """All or nothing: a failure while cancelling the second visit undoes the explant."""
    pump = booked[0].pump
    real_cancel = services.appointment_cancel
    calls = []

    def cancel_then_fail(**kwargs):
        calls.append(kwargs["appointment"].pk)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_cancel(**kwargs)

    monkeypatch.setattr(receivers, "appointment_cancel", cancel_then_fail)
    with pytest.raises(RuntimeError):
        patient_services.pump_explant_without_replacement(
            pump=Pump.objects.get(pk=pump.pk),
            explanted_on=clinic_today(pump.patient.clinic),
            reason=REASON,
            by=None,
        )
    pump.refresh_from_db()
    assert pump.status == PumpStatus.ACTIVE and pump.explant_reason == ""
    assert not Appointment.objects.filter(status=AppointmentStatus.CANCELLED).exists()
    assert Alert.objects.filter(pump=pump, state=AlertState.OPEN).exists()


def test_the_service_refuses_an_empty_reason_or_a_future_date(pump, nurse):
    today = clinic_today(pump.patient.clinic)
    with pytest.raises(ValidationError) as caught:
        patient_services.pump_explant_without_replacement(
            pump=pump, explanted_on=today + dt.timedelta(days=1), reason=" ", by=nurse
        )
    assert set(caught.value.message_dict) == {"explant_reason", "explanted_on"}
    pump.refresh_from_db()
    assert pump.status == PumpStatus.ACTIVE


def test_a_replacement_records_why_the_old_pump_came_out(nurse_client, filled_pump):
    from tests.factories import pump_model

    patient = filled_pump.patient
    model = pump_model("8637-40")
    response = nurse_client.post(
        reverse("dashboard:pump_replace", args=[patient.pk]),
        {
            "model": model.pk,
            "serial_number": "NGP-NEW-9",
            "implanted_on": clinic_today(patient.clinic).isoformat(),
            "alarm_volume_ml": "",
        },
    )
    assert response.status_code == 302
    filled_pump.refresh_from_db()
    assert filled_pump.explant_reason == f"Replaced by {model.name} SN NGP-NEW-9"
