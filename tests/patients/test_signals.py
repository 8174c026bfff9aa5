"""patients.signals: what refills and reminders do about the patients app's writes.

patients never imports the apps above it; they act in receivers connected in their
AppConfig.ready() (refills/receivers.py, reminders/receivers.py), inside the write's
transaction.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from patients import services
from patients import signals as patient_signals
from patients.models import Pump, PumpStatus
from refills import services as refill_services
from refills import signals as refill_signals
from refills.models import AppointmentStatus, PumpForecast
from reminders.models import Alert, AlertState, Notification, NotificationStatus

T0 = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)


def _connected(signal) -> list[str]:
    """The dispatch_uid of each receiver, in the order they run (connection order)."""
    return [lookup_key[0] for lookup_key, *_ in signal.receivers]


@pytest.mark.parametrize(
    ("signal", "receivers"),
    [
        (patient_signals.patient_updated, ["refills.receivers.refresh_after_patient_update"]),
        (
            patient_signals.caregiver_removing,
            ["reminders.receivers.withdraw_a_removed_caregivers_messages"],
        ),
        (
            patient_signals.pump_replaced,
            [
                "refills.receivers.move_bookings_to_the_new_pump",
                "reminders.receivers.close_the_replaced_pumps_alerts",
            ],
        ),
        (patient_signals.pump_implanted, ["refills.receivers.refresh_after_pump_change"]),
        (patient_signals.pump_updated, ["refills.receivers.refresh_after_pump_change"]),
        (
            patient_signals.pump_explanted_without_replacement,
            [
                # refills first: reminders closes the alerts after the last forecast refresh.
                "refills.receivers.cancel_visits_of_an_unreplaced_pump",
                "reminders.receivers.stop_messages_and_alerts_of_an_unreplaced_pump",
            ],
        ),
        (
            patient_signals.clinic_settings_changed,
            ["refills.receivers.refresh_after_clinic_settings_change"],
        ),
        (
            patient_signals.clinic_closures_changed,
            ["refills.receivers.refresh_after_closures_change"],
        ),
        (refill_signals.forecast_stored, ["reminders.receivers.review_after_forecast_stored"]),
    ],
)
def test_the_receivers_are_connected_once_after_app_loading_in_layer_order(signal, receivers):
    assert _connected(signal) == receivers


@pytest.fixture
def explanting(filled_pump, nurse):
    """A filled pump with a booked visit, a pump-wide "please book"-style message waiting and
    a discrepancy alert a person would resolve."""
    appointment = refill_services.appointment_book(
        pump=filled_pump, by=nurse, scheduled_start=timezone.now() + dt.timedelta(days=10)
    )
    patient = filled_pump.patient
    nudge = Notification.objects.create(
        key=f"pump:{filled_pump.pk}:test-nudge:patient:{patient.pk}",
        kind="reminder",
        clinic=patient.clinic,
        patient=patient,
        channel="sms",
        to_address=patient.phone or "+16175550142",
        body="Please book",
    )
    alert = Alert.objects.create(
        clinic=patient.clinic,
        patient=patient,
        pump=filled_pump,
        kind="discrepancy",
        severity=3,
        reasons=["Unexplained volume discrepancy at the last refill"],
    )
    return appointment, nudge, alert


def test_explanting_without_replacement_cancels_visits_withdraws_messages_closes_alerts(
    filled_pump, nurse, explanting
):
    appointment, nudge, alert = explanting
    later = timezone.now() + dt.timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        cancelled = services.pump_explant_without_replacement(
            pump=Pump.objects.get(pk=filled_pump.pk),
            explanted_on=timezone.localdate(timezone=filled_pump.patient.clinic.tz),
            reason="Pocket infection",
            by=nurse,
        )
    assert [a.pk for a in cancelled] == [appointment.pk]
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert "Pocket infection" in appointment.cancellation_reason
    assert not Notification.objects.filter(
        patient=filled_pump.patient, status=NotificationStatus.PENDING
    ).exists()
    nudge.refresh_from_db()
    assert nudge.status == NotificationStatus.CANCELLED
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and alert.resolved_by == nurse
    # The forecast was stored again at the explant.
    assert PumpForecast.objects.get(pump=filled_pump).computed_at == later


def test_a_failing_receiver_rolls_the_whole_write_back(pump):
    """Sent inside the service's transaction: nothing is saved half way."""

    def fail(**_):
        raise RuntimeError("a receiver failed")

    patient_signals.pump_updated.connect(fail, dispatch_uid="test-fail")
    try:
        with pytest.raises(RuntimeError):
            services.pump_update(pump=pump, planned_replacement_on=dt.date(2030, 1, 1))
    finally:
        patient_signals.pump_updated.disconnect(dispatch_uid="test-fail")
    pump.refresh_from_db()
    assert pump.planned_replacement_on is None
    assert pump.status == PumpStatus.ACTIVE


def test_a_new_clinic_margin_moves_the_stored_refill_by(filled_pump, clinic):
    before = PumpForecast.objects.get(pump=filled_pump).refill_by
    services.clinic_settings_save(
        clinic=clinic, by=None, default_refill_margin_days=clinic.default_refill_margin_days + 5
    )
    after = PumpForecast.objects.get(pump=filled_pump).refill_by
    assert after == before - dt.timedelta(days=5)
