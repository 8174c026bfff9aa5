"""Raising, updating and clearing alerts: what the rules find becomes (or stops being) an alert."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from patients.models import Channel, Pump, PumpStatus
from refills.models import PumpForecast
from refills.risk import Tier
from reminders.alerts.escalate import cancel_pending_escalations, escalation_start
from reminders.alerts.rules import Finding, alert_findings
from reminders.loading import loading_history
from reminders.models import (
    AUTO_RESOLVING_KINDS,
    Alert,
    AlertKind,
    AlertState,
    Notification,
    NotificationKind,
)

logger = logging.getLogger(__name__)

# Delivery-failed alerts keep the reasons of every failure, up to this many.
_DELIVERY_FAILED_REASONS_KEPT = 20


def alerts_sync(*, forecast: PumpForecast, pump: Pump, now: dt.datetime) -> list[dt.datetime]:
    """Raise, update and clear this pump's alerts; return the rules' next switch-on instants."""
    evaluation = alert_findings(forecast=forecast, pump=pump, now=now)
    unresolved = {
        a.kind: a for a in Alert.objects.filter(pump=pump).exclude(state=AlertState.RESOLVED)
    }
    for kind, finding in evaluation.findings.items():
        alert_raise(pump=pump, finding=finding, existing=unresolved.get(kind), now=now)
    for kind, alert in unresolved.items():
        if kind in AUTO_RESOLVING_KINDS and kind not in evaluation.findings:
            into = evaluation.merged.get(kind)
            note = (
                f"Now part of the “{AlertKind(into).label}” alert: one problem, one alert."
                if into
                else AUTO_CLEARED_NOTE
            )
            _auto_resolve(alert, now=now, note=note)
    return evaluation.thresholds


def _resolved_by_a_person(*, pump: Pump, finding: Finding) -> bool:
    return (
        bool(finding.occasion)
        and Alert.objects.filter(
            pump=pump,
            kind=finding.kind,
            occasion=finding.occasion,
            state=AlertState.RESOLVED,
            resolved_by__isnull=False,
        ).exists()
    )


def alert_raise(
    *, pump: Pump, finding: Finding, now: dt.datetime, existing: Alert | None = None
) -> Alert | None:
    """Open an alert for the finding, or update the pump's unresolved one of that kind."""
    if existing is None:
        if _resolved_by_a_person(pump=pump, finding=finding):
            # A person resolved this very occasion already; do not nag them again.
            return None
        alert = Alert(
            clinic_id=pump.patient.clinic_id,
            patient_id=pump.patient_id,
            pump=pump,
            kind=finding.kind,
            severity=int(finding.severity),
            reasons=finding.reasons,
            occasion=finding.occasion,
            raised_at=now,
            updated_at=now,
            next_escalation_at=escalation_start(finding.severity, now),
            raised_during_history_load=loading_history(),
        )
        try:
            with transaction.atomic():
                alert.save()
            logger.info("alert %s raised (pump %s, %s)", alert.pk, pump.pk, finding.kind)
            return alert
        except IntegrityError:
            # Raised meanwhile by an overlapping sweep or request: update that one.
            existing = (
                Alert.objects.filter(pump=pump, kind=finding.kind)
                .exclude(state=AlertState.RESOLVED)
                .first()
            )
            if existing is None:
                raise
    return _alert_update(existing, finding=finding, now=now)


def _alert_update(alert: Alert, *, finding: Finding, now: dt.datetime) -> Alert:
    fields = []
    severity = int(finding.severity)
    if alert.kind == AlertKind.DELIVERY_FAILED:
        reasons = (alert.reasons + [r for r in finding.reasons if r not in alert.reasons])[
            -_DELIVERY_FAILED_REASONS_KEPT:
        ]
    else:
        reasons = finding.reasons
    if reasons != alert.reasons:
        alert.reasons = reasons
        fields.append("reasons")
    if finding.occasion and finding.occasion != alert.occasion:
        alert.occasion = finding.occasion
        fields.append("occasion")
    if severity != alert.severity:
        fields += _severity_change(alert, severity, now)
    if fields:
        alert.updated_at = now
        alert.save(update_fields=[*fields, "updated_at"])
    return alert


def _severity_change(alert: Alert, severity: int, now: dt.datetime) -> list[str]:
    """Set the new severity; reopen and (re)start or stop escalation as it calls for."""
    fields = ["severity"]
    rose = severity > alert.severity
    alert.severity = severity
    if rose and alert.state == AlertState.ACKNOWLEDGED and severity >= Tier.HIGH:
        # Worse than what was acknowledged: it needs someone's eyes again.
        alert.state = AlertState.OPEN
        fields.append("state")
    if alert.state == AlertState.OPEN:
        if severity >= Tier.HIGH and alert.next_escalation_at is None:
            alert.next_escalation_at = escalation_start(severity, now)
        elif severity < Tier.HIGH:
            alert.next_escalation_at = None
        fields.append("next_escalation_at")
    return fields


def _close(alert: Alert, *, by, note: str, now: dt.datetime) -> bool:
    """Resolve the alert unless someone else resolved it first; True when this call did."""
    changed = (
        Alert.objects.filter(pk=alert.pk)
        .exclude(state=AlertState.RESOLVED)
        .update(
            state=AlertState.RESOLVED,
            resolved_at=now,
            resolved_by=by,
            resolution_note=note,
            next_escalation_at=None,
            updated_at=now,
        )
    )
    if changed:
        alert.refresh_from_db()
        # The conditional UPDATE bypasses save(): write the audit row ourselves.
        Alert.history.bulk_history_create([alert], update=True, default_user=by, default_date=now)
    return bool(changed)


AUTO_CLEARED_NOTE = "Cleared automatically: the condition no longer holds."


def _auto_resolve(alert: Alert, *, now: dt.datetime, note: str = AUTO_CLEARED_NOTE) -> None:
    if _close(alert, by=None, note=note, now=now):
        cancel_pending_escalations(alert, reason="The alert cleared")
        logger.info("alert %s cleared automatically", alert.pk)


def alerts_clear_for_inactive(*, now: dt.datetime, limit: int = 500) -> int:
    """Explanted pumps and discharged patients: their self-clearing alerts no longer apply."""
    stale = list(
        Alert.objects.exclude(state=AlertState.RESOLVED)
        .filter(kind__in=AUTO_RESOLVING_KINDS)
        .filter(Q(pump__status=PumpStatus.EXPLANTED) | Q(patient__is_active=False))[:limit]
    )
    for alert in stale:
        _auto_resolve(alert, now=now)
    return len(stale)


def alerts_close_for_pump(*, pump: Pump, by, note: str, now: dt.datetime | None = None) -> int:
    """The pump is out: close every alert still open about it, those a person would resolve too.

    Called when a pump is explanted, with or without a replacement
    (patients.services); the user who recorded it stands as the one who resolved
    them (None when a script replaced the pump). Escalations stop.
    """
    now = now or timezone.now()
    closed = 0
    for alert in Alert.objects.filter(pump=pump).exclude(state=AlertState.RESOLVED):
        if _close(alert, by=by, note=note, now=now):
            cancel_pending_escalations(alert, reason="The pump was explanted")
            closed += 1
    return closed


def _failed_notification_pump(notification: Notification) -> Pump | None:
    """The pump a failed message was about: its appointment's, its alert's, or the
    patient's active one."""
    if notification.appointment_id:
        return notification.appointment.pump
    if notification.alert_id:
        return notification.alert.pump
    if notification.patient_id:
        return Pump.objects.filter(
            patient_id=notification.patient_id, status=PumpStatus.ACTIVE
        ).first()
    return None


def alert_raise_delivery_failed(*, notification: Notification, now: dt.datetime) -> Alert | None:
    """A message finally failed: the clinic must reach the person another way."""
    pump = _failed_notification_pump(notification)
    if pump is None:
        logger.error("notification %s failed and has no pump to alert on", notification.pk)
        return None
    pump = Pump.objects.select_related("patient__clinic").get(pk=pump.pk)
    forecast = PumpForecast.objects.filter(pump=pump).only("risk_tier").first()
    severity = max(Tier.MODERATE, int(forecast.risk_tier) if forecast else Tier.LOW)
    if notification.kind == NotificationKind.MISSED_APPOINTMENT:
        severity = max(severity, Tier.HIGH)
    channel = "text message" if notification.channel == Channel.SMS else "email"
    reason = (
        f"{notification.get_kind_display()} ({channel}, message #{notification.pk}) to "
        f"{notification.recipient_label.split(': ', 1)[0].lower()} could not be delivered: "
        f"{notification.last_error or 'failed'}. Contact them another way."
    )
    finding = Finding(AlertKind.DELIVERY_FAILED, severity, [reason])
    existing = (
        Alert.objects.filter(pump=pump, kind=AlertKind.DELIVERY_FAILED)
        .exclude(state=AlertState.RESOLVED)
        .first()
    )
    return alert_raise(pump=pump, finding=finding, existing=existing, now=now)
