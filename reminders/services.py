"""Writes of the reminders app. The dashboard calls these; nothing else writes.

Alerts: alert_acknowledge, alert_assign, alert_resolve (keyword-only, with the
acting user). Delivery: notification_send (the send task's body). Consent:
sms_keyword_apply (STOP/START from inbound texts). Webhooks: webhook_first_seen (replay
guard). Templates: message_template_save.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from accounts.access import can
from patients.models import Caregiver, Channel, Clinic, Patient
from patients.phones import normalize_phone
from patients.services import contact_consent_set
from reminders.alerts import alert_acknowledge, alert_assign, alert_resolve
from reminders.delivery import SendOutcome, notification_send
from reminders.models import MessageTemplate, ProcessedWebhook

__all__ = [
    "alert_acknowledge",
    "alert_assign",
    "alert_resolve",
    "notification_send",
    "SendOutcome",
    "sms_keyword_apply",
    "clinics_texting_from",
    "webhook_first_seen",
    "message_template_save",
    "OPT_OUT_WORDS",
    "OPT_IN_WORDS",
]

logger = logging.getLogger(__name__)

# Carrier and Twilio keywords (Twilio handles the reply; we record the consent).
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES", "OPTIN"})


def keyword_of(body: str) -> str:
    words = (body or "").strip().upper().split()
    return words[0].strip(".!") if words else ""


def _e164(number: str) -> str:
    try:
        return normalize_phone(number or "")
    except ValidationError:
        return ""


def clinics_texting_from(number: str | None) -> QuerySet[Clinic]:
    """The clinics whose texts are sent from `number` (None: the deployment's sender).

    Every clinic sends from the deployment's one sender today: TWILIO_FROM_NUMBER, or a
    Messaging Service (whose pool of numbers pumptrack does not know, so any number
    Twilio delivered to counts as it). A number that is not ours sends nobody's texts.
    A per-clinic sender would be matched here.
    """
    if number is None:
        return Clinic.objects.all()
    conf = settings.REMINDERS
    if conf.get("TWILIO_MESSAGING_SERVICE_SID"):
        return Clinic.objects.all()
    ours = _e164(conf.get("TWILIO_FROM_NUMBER", ""))
    if ours and _e164(number) == ours:
        return Clinic.objects.all()
    return Clinic.objects.none()


def sms_keyword_apply(*, phone: str, body: str, to: str | None = None) -> tuple[str, int]:
    """Apply STOP/START from `phone` (E.164), received at our number `to`, to the patients
    and caregivers with that number who get their texts from `to` (None: the deployment's
    sender). Text consent only: email consent is another channel and is untouched.

    Returns (the keyword's effect: "opt-out", "opt-in" or "", rows changed). Saved row
    by row so the consent change appears in each person's history.
    """
    keyword = keyword_of(body)
    if keyword in OPT_OUT_WORDS:
        effect, consent = "opt-out", False
    elif keyword in OPT_IN_WORDS:
        effect, consent = "opt-in", True
    else:
        return "", 0
    clinics = clinics_texting_from(to)
    changed = 0
    with transaction.atomic():
        for model, clinic_path in ((Patient, "clinic__in"), (Caregiver, "patient__clinic__in")):
            people = model.objects.filter(phone=phone, **{clinic_path: clinics})
            for person in people.exclude(consent_sms=consent):
                changed += contact_consent_set(
                    person=person,
                    channel=Channel.SMS,
                    consented=consent,
                    source=f"inbound SMS {effect}",
                )
    logger.info("inbound %s applied to %s rows", effect, changed)
    return effect, changed


def webhook_first_seen(*, key: str, kind: str) -> bool:
    """Record a signed webhook request by its key; False when it was already applied (a
    replay). Call it inside the request's transaction, before applying the request."""
    if not key:
        return True
    try:
        with transaction.atomic():
            ProcessedWebhook.objects.create(key=key[:160], kind=kind)
    except IntegrityError:
        return False
    return True


def message_template_save(*, template: MessageTemplate, by) -> MessageTemplate:
    """Managers edit the texts; the rules of reminders.messages apply (clean())."""
    if template.clinic_id is None:
        if not by.is_superuser:
            raise PermissionDenied("Only an administrator changes the default texts.")
    elif not can(by, "edit_templates", template.clinic):
        raise PermissionDenied("Only the clinic's managers edit its message texts.")
    template.updated_by = by
    template.full_clean()
    template.save()
    return template


def message_template_reset(*, clinic, kind: str, channel: str, by) -> bool:
    """Drop the clinic's own text for one message so the default applies again; False
    when the clinic already used the default. Same permission as editing the text."""
    if not can(by, "edit_templates", clinic):
        raise PermissionDenied("Only the clinic's managers edit its message texts.")
    deleted, _ = MessageTemplate.objects.filter(clinic=clinic, kind=kind, channel=channel).delete()
    return bool(deleted)
