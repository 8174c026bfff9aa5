"""Writes for patients, caregivers, implanted pumps and clinic settings.

What the apps above must do about these writes (forecasts, visits, reminders, alerts)
they do in their receivers of patients.signals, sent inside each write's transaction.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from patients import signals
from patients.fields import RegionTimeZoneField
from patients.models import (
    Caregiver,
    Channel,
    Clinic,
    ClinicClosure,
    Patient,
    Pump,
    PumpModel,
    PumpStatus,
)
from patients.validators import normalize_mrn, normalize_phone
from pumptrack.dates import date_text


def _normalized_phones(fields: dict) -> dict:
    """Phone numbers as typed ("(617) 555-0142") turned into E.164 before validation.

    The models' field validator accepts only E.164 and runs before their clean(),
    so the number has to arrive normalised.
    """
    result = dict(fields)
    if result.get("phone"):
        try:
            result["phone"] = normalize_phone(result["phone"])
        except ValidationError as exc:
            raise ValidationError({"phone": exc.messages}) from exc
    return result


def clinic_create(**fields) -> Clinic:
    """A new clinic, for set-up tooling (the local demo clinic); managers then run it."""
    clinic = Clinic(**fields)
    with transaction.atomic():
        clinic.full_clean()
        clinic.save()
    return clinic


def _normalized_mrn(fields: dict) -> dict:
    """The MRN without the spaces around it (uniqueness ignores them and its case)."""
    if "mrn" in fields:
        return {**fields, "mrn": normalize_mrn(fields["mrn"])}
    return fields


def patient_create(*, clinic: Clinic, **fields) -> Patient:
    patient = Patient(clinic=clinic, **_normalized_phones(_normalized_mrn(fields)))
    patient.full_clean()
    patient.save()
    return patient


def _differs(instance, name: str, value) -> bool:
    """Whether `value` would change the field. A time zone is held as a ZoneInfo (or
    None when blank) but given by name: compare the names."""
    field = instance._meta.get_field(name)
    if isinstance(field, RegionTimeZoneField):
        return field.get_prep_value(getattr(instance, name)) != field.get_prep_value(value)
    return getattr(instance, name) != value


def _apply_validated(instance, fields: dict) -> tuple[list[str], dict]:
    """Set the fields that differ and full_clean(); on a validation error put the old
    values back (the caller's object stays as it is in the database) and re-raise.
    Returns the changed names and their previous values."""
    changed = [name for name, value in fields.items() if _differs(instance, name, value)]
    previous = {name: getattr(instance, name) for name in changed}
    if not changed:
        return changed, previous
    for name in changed:
        setattr(instance, name, fields[name])
    try:
        instance.full_clean()
    except ValidationError:
        for name, value in previous.items():
            setattr(instance, name, value)
        raise
    return changed, previous


def patient_update(*, patient: Patient, **fields) -> Patient:
    """Update a patient; a change of risk factors or zone re-tiers the active pump
    (refills/receivers.py)."""
    fields = _normalized_phones(_normalized_mrn(fields))
    changed, _ = _apply_validated(patient, fields)
    if not changed:
        return patient
    with transaction.atomic():
        patient.save(update_fields=[*changed, "updated_at"])
        signals.patient_updated.send(sender=Patient, patient=patient, changed=frozenset(changed))
    return patient


# The consent field each reminder channel needs.
CONSENT_FIELDS = {Channel.SMS: "consent_sms", Channel.EMAIL: "consent_email"}


def contact_consent_set(
    *, person: Patient | Caregiver, channel: str, consented: bool, source: str
) -> bool:
    """Record a patient's or caregiver's consent to one reminder channel, for instance a
    STOP or START text. `source` says where it came from; it is the change reason in the
    person's history. Returns whether anything changed. A patient's change is announced
    (patient_updated) like any other patient edit.
    """
    field = CONSENT_FIELDS[Channel(channel)]
    if getattr(person, field) == consented:
        return False
    setattr(person, field, consented)
    person._change_reason = source  # simple-history records it with the new row
    person.save(update_fields=[field])
    if isinstance(person, Patient):
        signals.patient_updated.send(sender=Patient, patient=person, changed=frozenset({field}))
    return True


def caregiver_add(*, patient: Patient, **fields) -> Caregiver:
    caregiver = Caregiver(patient=patient, **_normalized_phones(fields))
    caregiver.full_clean()
    caregiver.save()
    return caregiver


def caregiver_update(*, caregiver: Caregiver, **fields) -> Caregiver:
    """Change a caregiver's details; nothing is saved unless every field is valid."""
    fields = _normalized_phones(fields)
    changed = [name for name, value in fields.items() if _differs(caregiver, name, value)]
    if not changed:
        return caregiver
    previous = {name: getattr(caregiver, name) for name in changed}
    for name in changed:
        setattr(caregiver, name, fields[name])
    try:
        caregiver.full_clean()
    except ValidationError:
        for name, value in previous.items():
            setattr(caregiver, name, value)
        raise
    caregiver.save(update_fields=changed)
    return caregiver


def caregiver_remove(*, caregiver: Caregiver) -> None:
    """Remove a caregiver; their reminders still waiting in the outbox are cancelled
    (reminders/receivers.py), before the delete: Notification.caregiver is SET_NULL on
    delete, and a row without a caregiver is addressed to the patient.
    """
    with transaction.atomic():
        signals.caregiver_removing.send(sender=Caregiver, caregiver=caregiver)
        caregiver.delete()


def pump_implant(
    *,
    patient: Patient,
    model: PumpModel,
    serial_number: str,
    implanted_on: dt.date,
    alarm_volume_ml: Decimal | None = None,
    replaces: Pump | None = None,
    by=None,
) -> Pump:
    """Record a new active pump; a replaced pump is marked explanted the same day.

    The replaced pump's booked visits move to the new pump and its open alerts are
    closed (in ``by``'s name when given): a discrepancy or a pocket fill at its last
    refill no longer describes the pump the patient has, and would otherwise keep
    escalating. Then the new pump's forecast is stored. (Receivers of pump_replaced and
    pump_implanted in refills and reminders.)
    """
    with transaction.atomic():
        if replaces is not None:
            if replaces.patient_id != patient.pk:
                raise ValidationError(
                    "The pump being replaced belongs to another patient. Choose this "
                    "patient's pump."
                )
            if replaces.status != PumpStatus.ACTIVE:
                raise ValidationError(
                    "The pump being replaced is already explanted. Choose the active pump."
                )
            _pump_explant(
                pump=replaces,
                explanted_on=implanted_on,
                reason=f"Replaced by {model.name} SN {serial_number}",
            )
        elif patient.pumps.filter(status=PumpStatus.ACTIVE).exists():
            raise ValidationError(
                "This patient already has an active pump. Record it as replaced or explanted first."
            )
        pump = Pump(
            patient=patient,
            model=model,
            serial_number=serial_number,
            implanted_on=implanted_on,
            alarm_volume_ml=alarm_volume_ml or model.default_alarm_volume_ml,
        )
        pump.full_clean()
        pump.save()
        if replaces is not None:
            signals.pump_replaced.send(
                sender=Pump,
                old=replaces,
                new=pump,
                by=by,
                note=f"Pump replaced on {date_text(implanted_on)} by SN {serial_number}",
            )
        signals.pump_implanted.send(sender=Pump, pump=pump)
    return pump


def _pump_explant(*, pump: Pump, explanted_on: dt.date, reason: str = "") -> Pump:
    """Mark the pump explanted. Its bookings and alerts are the caller's business.

    Private: it sends no signal, so on its own it would leave bookings and alerts behind.
    The public services are pump_implant(replaces=...), which moves the bookings to the
    new pump (pump_replaced), and pump_explant_without_replacement, which cancels them
    and closes the alerts (pump_explanted_without_replacement).
    """
    previous = (pump.status, pump.explanted_on, pump.explant_reason)
    pump.status = PumpStatus.EXPLANTED
    pump.explanted_on = explanted_on
    pump.explant_reason = reason.strip()
    try:
        pump.full_clean()
    except ValidationError:
        # Leave the caller's object as it is in the database.
        pump.status, pump.explanted_on, pump.explant_reason = previous
        raise
    pump.save(update_fields=["status", "explanted_on", "explant_reason"])
    return pump


def pump_explant_without_replacement(*, pump: Pump, explanted_on: dt.date, reason: str, by) -> list:
    """The pump came out and no new one went in: stop tracking it, all or nothing.

    Its booked appointments are cancelled (refills/receivers.py: their reminders are
    withdrawn and the cancellation is in the audit trail, with the reason), its unsent
    messages withdrawn and its open alerts closed (reminders/receivers.py): nobody is
    reminded or paged about a pump that is no longer there. Returns the cancelled
    appointments.
    """
    reason = (reason or "").strip()
    errors = {}
    if not reason:
        errors["explant_reason"] = "Say why the pump was removed."
    if explanted_on > timezone.localdate(timezone=pump.patient.clinic.tz):
        errors["explanted_on"] = "The explant date cannot be in the future."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # Locked and read again, so two people explanting at once cannot both go ahead.
        current = Pump.objects.select_for_update().get(pk=pump.pk)
        if current.status != PumpStatus.ACTIVE:
            when = f"{date_text(current.explanted_on)}"
            raise ValidationError(f"This pump was already recorded as explanted on {when}.")
        _pump_explant(pump=pump, explanted_on=explanted_on, reason=reason)
        note = f"Pump explanted on {date_text(explanted_on)}, not replaced: {reason}"
        responses = signals.pump_explanted_without_replacement.send(
            sender=Pump, pump=pump, by=by, note=note
        )
    return [appointment for _, cancelled in responses for appointment in cancelled or ()]


def pump_update(*, pump: Pump, **fields) -> Pump:
    """Change ERI, planned replacement or alarm volume; the forecast follows
    (refills/receivers.py)."""
    with transaction.atomic():
        for name, value in fields.items():
            setattr(pump, name, value)
        pump.full_clean()
        pump.save(update_fields=list(fields))
        signals.pump_updated.send(sender=Pump, pump=pump, changed=frozenset(fields))
    return pump


# What a clinic's managers may change in the app; the name is the operators'.
CLINIC_SETTINGS_FIELDS = (
    "phone",
    "after_hours_phone",
    "timezone",
    "default_refill_margin_days",
    "working_days",
    "day_starts",
    "day_ends",
    "refill_slots_per_day",
)


def clinic_settings_save(*, clinic: Clinic, by, **fields) -> Clinic:
    """Change a clinic's hours, working days, phones, time zone or refill margin.

    Checks no role: staff change settings through accounts.services.clinic_settings_update,
    which checks that `by` manages the clinic (roles live in accounts, above patients).
    Validated by the model (field validators, clean(), constraints); nothing is saved
    unless every field is valid. Recorded in the clinic's history with `by`. A new zone or
    margin recomputes every active pump's stored forecast in the same transaction
    (refills/receivers.py).
    """
    unknown = set(fields) - set(CLINIC_SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"Not a clinic setting: {', '.join(sorted(unknown))}")
    changed, previous = _apply_validated(clinic, fields)
    if not changed:
        return clinic
    # full_clean() normalises phone numbers; compare again so only real changes are saved.
    changed = [name for name in changed if getattr(clinic, name) != previous[name]]
    if not changed:
        return clinic
    clinic._history_user = by
    with transaction.atomic():
        clinic.save(update_fields=changed)
        signals.clinic_settings_changed.send(
            sender=Clinic, clinic=clinic, changed=frozenset(changed)
        )
    return clinic


# --------------------------------------------------------------------------- closures


def clinic_closure_add(
    *, clinic: Clinic, by, first_day: dt.date, last_day: dt.date | None = None, reason: str
) -> ClinicClosure:
    """Record days the clinic is shut (one day when ``last_day`` is None).

    Checks no role (accounts.services.clinic_closure_add does, as for the settings).
    Refused: a closure that is over already (nothing to plan), one that overlaps a
    closure already recorded (say it once: change that one instead). Recorded in the
    closure's history with ``by``.
    """
    closure = ClinicClosure(
        clinic=clinic,
        first_day=first_day,
        last_day=last_day or first_day,
        reason=reason,
        created_by=by,
    )
    closure.full_clean(exclude=["created_by"])
    today = timezone.localdate(timezone=clinic.tz)
    if closure.last_day < today:
        raise ValidationError({"last_day": "These days have passed: nothing to plan around."})
    with transaction.atomic():
        # The clinic row is locked so two managers cannot add overlapping closures at once.
        Clinic.objects.select_for_update().filter(pk=clinic.pk).first()
        clash = (
            ClinicClosure.objects.filter(
                clinic=clinic, first_day__lte=closure.last_day, last_day__gte=closure.first_day
            )
            .order_by("first_day")
            .first()
        )
        if clash is not None:
            raise ValidationError(
                {
                    "first_day": f"The clinic is already closed {clash.days_text} "
                    f"({clash.reason}). Remove that closure first to change it."
                }
            )
        closure._history_user = by
        closure.save()
        signals.clinic_closures_changed.send(
            sender=ClinicClosure,
            clinic=clinic,
            first_day=closure.first_day,
            last_day=closure.last_day,
        )
    return closure


def clinic_closure_remove(*, closure: ClinicClosure, by) -> None:
    """Remove a closure that has not ended (the clinic opens on those days after all).
    One that is over stays, as the record of why the clinic was shut."""
    today = timezone.localdate(timezone=closure.clinic.tz)
    if closure.last_day < today:
        raise ValidationError("This closure is over; it stays on record.")
    closure._history_user = by
    with transaction.atomic():
        closure.delete()
        signals.clinic_closures_changed.send(
            sender=ClinicClosure,
            clinic=closure.clinic,
            first_day=closure.first_day,
            last_day=closure.last_day,
        )
