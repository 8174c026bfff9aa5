"""Who can be reminded: the one definition of "reachable" for every page, report and the
reminder planner.

A person (patient or caregiver) is reachable on a channel when they have not asked for
phone calls only, consented to it and have the address for it. A patient is reachable
when they or any caregiver who receives reminders is. The reminder planner chooses its
channel with `consented_channels` (reminders.outbox.choose_channel), and the pages
filter with `patient_reachable_q`, the same rule written for SQL; a hypothesis test
(tests/patients/test_reachability.py) keeps the two in agreement.
"""

from __future__ import annotations

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet

from .models import Caregiver, Channel, Patient

NO_CONSENTED_CHANNEL = "No reminders will go out: no consented channel"


def sms_refusal(person) -> str:
    """Why a patient or caregiver gets no texts although they have a number: an opt-out
    only when their last inbound keyword was STOP (reminders' sms_keyword_apply records
    it with an "inbound SMS" change reason); an unticked box is no consent, not an opt-out."""
    last_keyword = (
        person.history.filter(history_change_reason__startswith="inbound SMS")
        .order_by("-history_date", "-history_id")
        .first()
    )
    if last_keyword is not None and not last_keyword.consent_sms:
        return "Opted out of text messages"  # by an inbound STOP (or another stop word)
    return "No consent recorded for text messages"


def consented_channels(
    *, preferred: str, consent_sms: bool, consent_email: bool, phone: str, email: str
) -> list[tuple[str, str]]:
    """(channel, address) a person may be reminded on, the preferred one first."""
    if preferred == Channel.NONE:
        return []
    usable = {
        Channel.SMS: phone if consent_sms and phone else "",
        Channel.EMAIL: email if consent_email and email else "",
    }
    order = (
        [Channel.SMS, Channel.EMAIL] if preferred == Channel.SMS else [Channel.EMAIL, Channel.SMS]
    )
    return [(channel, usable[channel]) for channel in order if usable[channel]]


def person_reachable_q(prefix: str = "") -> Q:
    """`consented_channels(...)` is not empty, for a patient or caregiver row at `prefix`."""
    return ~Q(**{f"{prefix}preferred_channel": Channel.NONE}) & (
        (Q(**{f"{prefix}consent_sms": True}) & ~Q(**{f"{prefix}phone": ""}))
        | (Q(**{f"{prefix}consent_email": True}) & ~Q(**{f"{prefix}email": ""}))
    )


def caregiver_reachable_exists(patient_ref: str = "pk") -> Exists:
    """A caregiver of the patient at OuterRef(`patient_ref`) who receives reminders and is
    reachable."""
    return Exists(
        Caregiver.objects.filter(person_reachable_q(), patient=OuterRef(patient_ref)).filter(
            receives_reminders=True
        )
    )


def patient_reachable_q(patient_path: str = "") -> Q:
    """The patient at `patient_path` ("" for a Patient queryset) or a caregiver is reachable."""
    prefix = f"{patient_path}__" if patient_path else ""
    return person_reachable_q(prefix) | Q(caregiver_reachable_exists(patient_path or "pk"))


def annotate_reachable(qs: QuerySet, patient_path: str = "") -> QuerySet:
    """Add the boolean ``reachable`` (one EXISTS per row, no extra query)."""
    prefix = f"{patient_path}__" if patient_path else ""
    return qs.annotate(
        reachable_self=_bool(person_reachable_q(prefix)),
        reachable_caregiver=caregiver_reachable_exists(patient_path or "pk"),
    ).annotate(reachable=Q(reachable_self=True) | Q(reachable_caregiver=True))


def _bool(condition: Q) -> ExpressionWrapper:
    return ExpressionWrapper(condition, output_field=BooleanField())


def patient_is_reachable(patient: Patient, *, without: Caregiver | None = None) -> bool:
    """For one patient (one query); `without`: as if that caregiver were removed."""
    if without is None:
        return Patient.objects.filter(pk=patient.pk).filter(patient_reachable_q()).exists()
    others = Caregiver.objects.filter(
        person_reachable_q(), patient=patient, receives_reminders=True
    )
    return (
        Patient.objects.filter(pk=patient.pk)
        .filter(person_reachable_q() | Q(Exists(others.exclude(pk=without.pk))))
        .exists()
    )
