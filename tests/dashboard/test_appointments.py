"""Book, reschedule, cancel, mark missed or completed; the refill-by guard shown in place."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from refills import services
from refills.models import Appointment, AppointmentKind, AppointmentStatus, Override
from tests.factories import staff


def _book_url(pump):
    return reverse("dashboard:appointment_create", args=[pump.patient_id])


def _when(pump, days):
    """A weekday ``days`` from now, 10:00 clinic time, as form fields."""
    day = timezone.localdate() + dt.timedelta(days=days)
    return {"day": day.isoformat(), "time": "10:00"}


def _book_data(pump, days, **extra):
    return {"kind": "refill", "duration_minutes": "30", **_when(pump, days), **extra}


def test_booking_form_proposes_latest_safe_date(nurse_client, filled_pump):
    html = nurse_client.get(_book_url(filled_pump)).content.decode()
    refill_by = filled_pump.forecast.refill_by
    assert "Latest safe date proposed" in html
    assert f"Refill by <strong>{refill_by:%a} {refill_by.day}" in html


def test_book_a_refill_before_refill_by(nurse_client, filled_pump):
    response = nurse_client.post(_book_url(filled_pump), _book_data(filled_pump, 10), follow=True)
    assert "Refill appointment booked for" in response.content.decode()
    appointment = Appointment.objects.get()
    assert appointment.kind == AppointmentKind.REFILL
    local = timezone.localtime(appointment.scheduled_start, filled_pump.patient.clinic.tz)
    assert local.hour == 10


def test_refill_after_refill_by_is_refused_for_a_nurse(nurse_client, filled_pump):
    late = (filled_pump.forecast.refill_by - timezone.localdate()).days + 5
    data = _book_data(filled_pump, late, override_reason="Patient is travelling")
    response = nurse_client.post(_book_url(filled_pump), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "This is after the refill-by date" in html
    assert "Only a physician can override this." in html
    # In place: under the date input.
    assert "Only a physician" in html.split('id="div_id_day"')[1].split('id="div_id_time"')[0]
    assert not Appointment.objects.exists()


def test_physician_overrides_with_a_reason(as_user, clinic, filled_pump):
    physician = staff(clinic, Role.PHYSICIAN)
    client = as_user(physician)
    late = (filled_pump.forecast.refill_by - timezone.localdate()).days + 5
    response = client.post(_book_url(filled_pump), _book_data(filled_pump, late))
    assert "To proceed, give an override reason." in response.content.decode()
    response = client.post(
        _book_url(filled_pump),
        _book_data(filled_pump, late, override_reason="Stable, low dose; discussed with family"),
    )
    assert response.status_code == 302
    assert Override.objects.get().rule == "appointment_after_refill_by"
    filled_pump.forecast.refresh_from_db()
    assert not filled_pump.forecast.booked_before_refill_by


def test_past_time_is_an_error_in_place(nurse_client, filled_pump):
    response = nurse_client.post(_book_url(filled_pump), _book_data(filled_pump, -2))
    assert "The appointment time is in the past." in response.content.decode()
    assert not Appointment.objects.exists()


@pytest.fixture
def appointment(filled_pump, nurse):
    return services.appointment_book(
        pump=filled_pump, by=nurse, scheduled_start=timezone.now() + dt.timedelta(days=5)
    )


def test_reschedule(nurse_client, appointment):
    url = reverse("dashboard:appointment_reschedule", args=[appointment.pk])
    assert nurse_client.get(url).status_code == 200
    response = nurse_client.post(url, _when(appointment.pump, 8), follow=True)
    assert "Appointment moved to" in response.content.decode()
    appointment.refresh_from_db()
    expected = timezone.localdate() + dt.timedelta(days=8)
    assert timezone.localtime(
        appointment.scheduled_start, appointment.patient.clinic.tz
    ).date() == (expected)


def test_cancel_needs_a_reason(nurse_client, appointment):
    url = reverse("dashboard:appointment_cancel", args=[appointment.pk])
    response = nurse_client.post(url, {"reason": ""})
    assert "This field is required." in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.SCHEDULED
    response = nurse_client.post(url, {"reason": "Patient in hospital"}, follow=True)
    assert "Appointment cancelled" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.cancellation_reason == "Patient in hospital"


def test_mark_missed(nurse_client, appointment):
    # The visit was due an hour ago and the patient did not come.
    Appointment.objects.filter(pk=appointment.pk).update(
        scheduled_start=timezone.now() - dt.timedelta(hours=1)
    )
    url = reverse("dashboard:appointment_missed", args=[appointment.pk])
    response = nurse_client.post(url, follow=True)
    assert "Marked missed" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.MISSED
    response = nurse_client.post(url, follow=True)
    assert "Only a scheduled appointment can be marked missed." in response.content.decode()


def test_a_future_appointment_cannot_be_marked_missed(nurse_client, appointment):
    """A visit that has not started cannot have been missed: marking it so cancelled the
    booking and told the patient "we missed you on <a future date>"."""
    from reminders.models import Notification

    url = reverse("dashboard:appointment_missed", args=[appointment.pk])
    messages_before = Notification.objects.filter(kind="missed-appointment").count()
    response = nurse_client.post(url, follow=True)
    assert "has not started yet, so it cannot be marked missed" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.SCHEDULED
    assert Notification.objects.filter(kind="missed-appointment").count() == messages_before


def test_complete_a_check_and_route_a_refill_to_the_refill_form(
    nurse_client, appointment, filled_pump, nurse
):
    url = reverse("dashboard:appointment_complete", args=[appointment.pk])
    response = nurse_client.post(url)
    assert response.status_code == 302
    assert response.url.endswith(f"?appointment={appointment.pk}")

    check = services.appointment_book(
        pump=filled_pump,
        by=nurse,
        kind=AppointmentKind.CHECK,
        scheduled_start=timezone.now() + dt.timedelta(days=2),
    )
    response = nurse_client.post(
        reverse("dashboard:appointment_complete", args=[check.pk]), follow=True
    )
    assert "Appointment marked completed." in response.content.decode()
    check.refresh_from_db()
    assert check.status == AppointmentStatus.COMPLETED


def test_service_refusal_is_shown_once(nurse_client, appointment, nurse):
    services.appointment_cancel(appointment=appointment, by=nurse, reason="Rebooked by phone")
    url = reverse("dashboard:appointment_cancel", args=[appointment.pk])
    html = nurse_client.post(url, {"reason": "again"}).content.decode()
    assert html.count("Only a scheduled appointment can be cancelled.") == 1
