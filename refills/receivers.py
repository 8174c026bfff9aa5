"""How refills follows the patients app's writes (patients/signals.py): forecasts and visits.

Connected in RefillsConfig.ready(), so before reminders' receivers of the same signals
(INSTALLED_APPS order): a pump's forecast is stored before reminders closes its alerts.
Each runs inside the sending service's transaction.
"""

from __future__ import annotations

import datetime as dt

from patients import signals as patient_signals
from patients.models import Clinic, Patient, Pump, PumpStatus
from refills.models import Appointment, AppointmentKind, AppointmentStatus
from refills.services import appointment_cancel, forecast_refresh

# What the stored forecast reads from the patient: the risk factors re-tier it, the zone
# moves its calendar days.
PATIENT_FIELDS_IN_FORECAST = frozenset(
    {name for name, _ in Patient.LABEL_RISK_FACTORS + Patient.OTHER_RISK_FACTORS}
    | {"oral_baclofen_bridge", "timezone"}
)
# The refill-by date (margin) and the clinic's calendar days (zone).
CLINIC_FIELDS_IN_FORECAST = frozenset({"timezone", "default_refill_margin_days"})


def refresh_after_patient_update(*, patient: Patient, changed: frozenset[str], **_) -> None:
    if PATIENT_FIELDS_IN_FORECAST & changed:
        for pump in patient.pumps.filter(status=PumpStatus.ACTIVE):
            forecast_refresh(pump=pump)


def move_bookings_to_the_new_pump(*, old: Pump, new: Pump, **_) -> None:
    """The patient's booked visits follow them to the new pump, not the explanted one.

    Saved one by one so each move is in the audit trail and the old pump's
    forecast no longer counts them.
    """
    for appointment in old.appointments.filter(status=AppointmentStatus.SCHEDULED):
        appointment.pump = new
        appointment.save(update_fields=["pump"])


def refresh_after_pump_change(*, pump: Pump, **_) -> None:
    """A new pump gets its first stored forecast; a changed one (ERI, planned replacement,
    alarm volume) a new one."""
    forecast_refresh(pump=pump)


def cancel_visits_of_an_unreplaced_pump(*, pump: Pump, by, note: str, **_) -> list[Appointment]:
    """Cancel the pump's booked visits (each in the audit trail with the note), then store
    its forecast: reminders' review of it clears the alerts that clear themselves and
    withdraws the reminders of the cancelled visits. Returns the cancelled visits."""
    cancelled = [
        appointment_cancel(appointment=appointment, by=by, reason=note)
        for appointment in pump.appointments.filter(status=AppointmentStatus.SCHEDULED)
    ]
    forecast_refresh(pump=pump)
    return cancelled


def refresh_after_clinic_settings_change(*, clinic: Clinic, changed: frozenset[str], **_) -> None:
    """A new margin or zone: every active pump of the clinic, in the same transaction."""
    if CLINIC_FIELDS_IN_FORECAST & changed:
        pumps = Pump.objects.filter(patient__clinic=clinic, status=PumpStatus.ACTIVE)
        for pump in pumps.order_by("pk"):
            forecast_refresh(pump=pump)


def refresh_after_closures_change(*, clinic: Clinic, first_day, last_day, **_) -> None:
    """A closure added or removed: the pumps with a refill booked on those days are stored
    again, so a visit on a closed day stops (or starts again) counting as booked in time."""
    zone = clinic.tz
    start = dt.datetime.combine(first_day, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    pump_ids = Appointment.objects.filter(
        pump__patient__clinic=clinic,
        pump__status=PumpStatus.ACTIVE,
        kind=AppointmentKind.REFILL,
        status=AppointmentStatus.SCHEDULED,
        scheduled_start__gte=start,
        scheduled_start__lt=end,
    ).values_list("pump_id", flat=True)
    for pump in Pump.objects.filter(pk__in=set(pump_ids)).order_by("pk"):
        forecast_refresh(pump=pump)


def connect() -> None:
    """Called once by RefillsConfig.ready(); dispatch_uid keeps a second call harmless."""
    for signal, receiver in (
        (patient_signals.patient_updated, refresh_after_patient_update),
        (patient_signals.pump_replaced, move_bookings_to_the_new_pump),
        (patient_signals.pump_implanted, refresh_after_pump_change),
        (patient_signals.pump_updated, refresh_after_pump_change),
        (patient_signals.pump_explanted_without_replacement, cancel_visits_of_an_unreplaced_pump),
        (patient_signals.clinic_settings_changed, refresh_after_clinic_settings_change),
        (patient_signals.clinic_closures_changed, refresh_after_closures_change),
    ):
        signal.connect(receiver, dispatch_uid=f"refills.receivers.{receiver.__name__}")
