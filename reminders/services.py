"""Writes of the reminders app. The dashboard calls these; nothing else writes.

Alerts: alert_acknowledge, alert_assign, alert_resolve (keyword-only, with the
acting user). Delivery: notification_send (the send task's body). Consent:
sms_keyword_apply (STOP/START from inbound texts). Templates:
message_template_save.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.access import can
from patients.models import Caregiver, Patient
from reminders.alerts import alert_acknowledge, alert_assign, alert_resolve
from reminders.delivery import SendOutcome, notification_send
from reminders.models import MessageTemplate

__all__ = [
    "alert_acknowledge",
    "alert_assign",
    "alert_resolve",
    "notification_send",
    "SendOutcome",
    "sms_keyword_apply",
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


def sms_keyword_apply(*, phone: str, body: str) -> tuple[str, int]:
    """Apply STOP/START from `phone` (E.164) to every patient and caregiver with that number.

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
    changed = 0
    with transaction.atomic():
        for model in (Patient, Caregiver):
            for person in model.objects.filter(phone=phone).exclude(consent_sms=consent):
                person.consent_sms = consent
                person.save(update_fields=["consent_sms"])
                changed += 1
    logger.info("inbound %s applied to %s rows", effect, changed)
    return effect, changed


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
