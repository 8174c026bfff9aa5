"""Template filters for staff pages: clinic-time dates with the weekday, tiers, numbers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django import template
from django.utils import dateformat, timezone
from django.utils.timesince import timesince

from patients.phones import phone_text
from refills.models import RiskTier
from refills.validation import fmt

register = template.Library()

DAY_FORMAT = "D j M Y"
TIME_FORMAT = "H:i"

# A risk tier and an alert severity share their values and labels (refills.models.RiskTier).
TIER_CLASSES = {
    RiskTier.CRITICAL: "text-bg-danger",
    RiskTier.HIGH: "text-bg-warning",
    RiskTier.MODERATE: "text-bg-info",
    RiskTier.LOW: "text-bg-success",
}


def _zone(where) -> dt.tzinfo:
    """A zone from a ZoneInfo, a zone name, or anything with a ``tz`` (clinic, patient)."""
    if where is None or where == "":
        return timezone.get_current_timezone()
    if isinstance(where, dt.tzinfo):
        return where
    if isinstance(where, str):
        return ZoneInfo(where)
    return where.tz


def in_zone(value, where=None):
    """A datetime moved into the zone; a plain date is returned unchanged."""
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            return value
        return timezone.localtime(value, _zone(where))
    return value


@register.filter
def day(value, where=None) -> str:
    """'Tue 4 Mar 2025' in the clinic's zone: staff plan by weekday."""
    if value in (None, ""):
        return "—"
    return dateformat.format(in_zone(value, where), DAY_FORMAT)


@register.filter
def daytime(value, where=None) -> str:
    """'Tue 4 Mar 2025, 09:30' in the clinic's zone."""
    if value in (None, ""):
        return "—"
    if not isinstance(value, dt.datetime):
        return day(value, where)
    local = in_zone(value, where)
    return f"{dateformat.format(local, DAY_FORMAT)}, {dateformat.format(local, TIME_FORMAT)}"


@register.filter
def clocktime(value, where=None) -> str:
    if not isinstance(value, dt.datetime):
        return ""
    return dateformat.format(in_zone(value, where), TIME_FORMAT)


@register.filter
def tier_label(value) -> str:
    """'Critical' for a risk tier or alert severity of 4: the label of its choice."""
    try:
        return RiskTier(int(value)).label
    except (TypeError, ValueError):
        return "Unknown"


@register.filter
def tier_class(value) -> str:
    try:
        return TIER_CLASSES[RiskTier(int(value))]
    except (TypeError, ValueError, KeyError):
        return "text-bg-secondary"


@register.filter
def num(value) -> str:
    """A quantity without trailing zeros (2000, 0.5, 12.25); '—' when missing."""
    if value in (None, ""):
        return "—"
    try:
        return fmt(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)


@register.filter
def signed_ml(value) -> str:
    if value in (None, ""):
        return "—"
    number = Decimal(str(value)).quantize(Decimal("0.1"))
    if number == 0:
        return "0.0 mL"  # Not "-0.0": a rounding artefact reads as a direction.
    sign = "+" if number > 0 else ""
    return f"{sign}{number} mL"


@register.filter
def percent(value) -> str:
    if value in (None, ""):
        return "—"
    number = (Decimal(str(value)) * 100).quantize(Decimal("0.1"))
    return f"{abs(number) if number == 0 else number} %"


@register.filter
def phone(value) -> str:
    """E.164 shown the way people dial it; unparseable numbers as stored."""
    return phone_text(value)


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def field_label(form, name) -> str:
    field = form.fields.get(name)
    return str(field.label) if field is not None and field.label else str(name)


@register.filter
def reason_text(reason) -> str:
    """A reason stored as {code, text, tier} or as plain text."""
    if isinstance(reason, dict):
        return str(reason.get("text") or reason.get("code") or "")
    return str(reason)


@register.filter
def distinct_reasons(reasons) -> list:
    """Each reason once: the same text under two rules (the unbooked rules share their
    opening words) reads as one line, the more severe (stored first) kept. A reason whose
    text begins another's says nothing the longer one does not."""
    reasons = list(reasons or [])
    texts = [reason_text(r) for r in reasons]
    kept, seen = [], set()
    for index, text in enumerate(texts):
        longer = any(other != text and other.startswith(text) for other in texts)
        if text in seen or longer:
            continue
        seen.add(text)
        kept.append(reasons[index])
    return kept


@register.filter
def ago(value, now=None) -> str:
    """'just now', '1 minute ago', '3 hours, 5 minutes ago': never '0 minutes ago'."""
    if not isinstance(value, dt.datetime):
        return ""
    now = now or timezone.now()
    if now - value < dt.timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, now)} ago"
