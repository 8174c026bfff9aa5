"""Staff alerts: the rules that raise and clear them, escalation, and the acting services.

Rules read the stored forecast (refills.PumpForecast) and a few rows of the pump;
they run when the forecast is stored (reminders.hooks), i.e. when something
changed or the pump's reassess moment came. `alert_findings` also returns the
instants at which a time-based rule will switch on, which the hook folds into
PumpForecast.reassess_at so the sweep comes back exactly then.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.access import PERMISSIONS, can
from accounts.models import Membership, Role
from patients.models import Channel, Patient, Pump, PumpStatus
from patients.validators import normalize_phone
from pumptrack.limits import check_free_text
from refills.models import Appointment, AppointmentKind, AppointmentStatus, PumpForecast, Refill
from refills.policy import running_out_alert_days
from refills.risk import ReasonCode, Tier
from refills.selectors import outstanding_discrepancy
from reminders import conf
from reminders.messages import format_date, format_when
from reminders.models import (
    AUTO_RESOLVING_KINDS,
    Alert,
    AlertKind,
    AlertState,
    Notification,
    NotificationKind,
    NotificationStatus,
)
from reminders.outbox import Draft, Recipient, draft_for, notifications_insert

logger = logging.getLogger(__name__)

REPORTED_CODES = ("critical-alarm", "symptoms", "noncritical-alarm", "discrepancy-with-symptoms")
MISSED_CODES = ("missed-appointment", "appointment-passed")
# The clinic work-queue alert of domain §8 follows the tier's own unbooked rules, so the
# windows (PUMPTRACK_POLICY WORK_QUEUE_DTA_DAYS, UNBOOKED_HIGH_DTA_DAYS,
# RISK_FACTOR_DTA_DAYS) have one source and the alert opens and clears with them.
UNBOOKED_CODES = (
    ReasonCode.REFILL_BY_PASSED,
    ReasonCode.UNBOOKED_ALARM_SOON,
    ReasonCode.RISK_FACTOR_UNBOOKED,
    ReasonCode.UNBOOKED_ALARM_APPROACHING,
)
# The device-life alert follows the tier's end-of-service and replacement rules.
DEVICE_CODES = (
    ReasonCode.END_OF_SERVICE_SOON,
    ReasonCode.ERI_NO_REPLACEMENT,
    ReasonCode.END_OF_SERVICE_APPROACHING,
    ReasonCode.REPLACEMENT_AFTER_END_OF_SERVICE,
    ReasonCode.REPLACEMENT_DATE_PASSED,
    ReasonCode.REPLACEMENT_LATE,
)


@dataclass
class Finding:
    kind: str
    severity: int
    reasons: list[str]
    occasion: str = ""


@dataclass
class Evaluation:
    findings: dict[str, Finding] = field(default_factory=dict)
    thresholds: list[dt.datetime] = field(default_factory=list)


def start_of_day(day: dt.date, zone) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone).astimezone(dt.UTC)


def _days_away(day: dt.date, today: dt.date) -> str:
    days = (day - today).days
    if days > 1:
        return f"{days} days away"
    if days == 1:
        return "tomorrow"
    if days == 0:
        return "today"
    return f"{-days} day{'s' if days < -1 else ''} ago"


def alert_findings(*, forecast: PumpForecast, pump: Pump, now: dt.datetime) -> Evaluation:
    """Which alert rules hold for this pump at `now`, and when the next one can switch on."""
    result = Evaluation()
    patient: Patient = pump.patient
    clinic = patient.clinic
    if pump.status != PumpStatus.ACTIVE or not patient.is_active:
        return result
    zone = clinic.tz
    today = now.astimezone(zone).date()
    codes = {reason["code"]: reason for reason in forecast.risk_reasons or []}
    risk_tier = int(forecast.risk_tier or Tier.LOW)

    # A missed refill appointment not followed by a refill or a new booking.
    missed = [codes[c]["text"] for c in MISSED_CODES if c in codes]
    if missed:
        appointment = (
            Appointment.objects.filter(
                pump=pump, kind=AppointmentKind.REFILL, status=AppointmentStatus.MISSED
            )
            .order_by("-scheduled_start")
            .values_list("pk", flat=True)
            .first()
        )
        result.findings[AlertKind.MISSED_APPOINTMENT] = Finding(
            AlertKind.MISSED_APPOINTMENT,
            max(Tier.HIGH, risk_tier),
            missed,
            occasion=f"appointment:{appointment}" if appointment else "",
        )

    # No refill booked before the refill-by date and the conservative alarm (or the
    # refill-by date) within the work-queue window, or a HIGH unbooked rule: the tier's
    # rules, so the alert and the tier cannot disagree about the window.
    unbooked = [codes[c] for c in UNBOOKED_CODES if c in codes]
    if unbooked and forecast.refill_by:
        booked = forecast.next_refill_at
        what = (
            f"The booked refill ({format_date(booked.astimezone(zone).date())}) is after"
            if booked and not forecast.booked_before_refill_by
            else "No refill appointment is booked before"
        )
        reasons = [
            f"{what} the refill-by date ({format_date(forecast.refill_by)}, "
            f"{_days_away(forecast.refill_by, today)})"
        ]
        reasons += [r["text"] for r in unbooked]
        label_factors = patient.label_risk_factors
        if label_factors:
            reasons.append("Label risk factor: " + ", ".join(label_factors))
        result.findings[AlertKind.UNBOOKED_REFILL] = Finding(
            AlertKind.UNBOOKED_REFILL,
            # The patient's tier: worse news (symptoms, a missed visit) makes it more urgent.
            max(risk_tier, *(int(r["tier"]) for r in unbooked)),
            reasons,
            occasion=f"refill-by:{forecast.refill_by.isoformat()}",
        )

    # Running out: the conservative alarm within RUNNING_OUT_ALERT_DAYS and no refill
    # booked before it, or the alarm reached, or the conservative empty date passed.
    # A refill booked (and not missed) before the conservative alarm instant is the
    # answer to "running out" and the tier says so (it keeps the margin rules); the alert
    # comes back when that visit is missed, cancelled or moved after the alarm, and at
    # the alarm instant whatever is booked (the tier is CRITICAL then too).
    running_out = []
    alarm_at = forecast.conservative_alarm_at
    if alarm_at:
        opens = alarm_at - dt.timedelta(days=running_out_alert_days())
        booked_before_alarm = (
            forecast.next_refill_at is not None and forecast.next_refill_at < alarm_at
        )
        if now >= alarm_at or (now >= opens and not booked_before_alarm):
            alarm_day = alarm_at.astimezone(zone).date()
            running_out.append(
                f"The conservative alarm date is {format_date(alarm_day)} "
                f"({_days_away(alarm_day, today)})"
            )
        elif now < opens:
            result.thresholds.append(opens)
        else:
            result.thresholds.append(alarm_at)
    # The empty date if the pump runs fast (never later than the nominal one).
    empty_at = min(
        (d for d in (forecast.conservative_empty_at, forecast.empty_at) if d), default=None
    )
    if empty_at:
        if now >= empty_at:
            running_out.append(
                "The projected empty date has passed "
                f"({format_when(empty_at, zone)}, if the pump runs fast): the reservoir may "
                "be empty"
            )
        else:
            result.thresholds.append(empty_at)
    if running_out:
        result.findings[AlertKind.RUNNING_OUT] = Finding(
            AlertKind.RUNNING_OUT,
            Tier.CRITICAL,
            running_out,
            occasion=f"anchor:{forecast.anchor_at.isoformat() if forecast.anchor_at else ''}",
        )

    # Alarms or symptoms reported by the patient, a caregiver or another service.
    reported = [codes[c] for c in REPORTED_CODES if c in codes]
    if reported:
        result.findings[AlertKind.REPORTED_PROBLEM] = Finding(
            AlertKind.REPORTED_PROBLEM,
            max(int(r["tier"]) for r in reported),
            [r["text"] for r in reported],
        )

    # A discrepancy flagged and not explained with evidence (carried until a refill
    # reconciles within tolerance, as the tier does), or a second same-direction one in a
    # row at the last refill (a trend, domain §7.1 #7): staff follow it up and resolve it.
    last = (
        Refill.objects.filter(pump=pump)
        .order_by("-performed_at")
        .only(
            "pk",
            "performed_at",
            "discrepancy_flagged",
            "discrepancy_trend_flagged",
            "discrepancy_ml",
            "pocket_fill_suspected",
            "measured_volume_after_fill_ml",
            "resulting_volume_ml",
        )
        .first()
    )
    unexplained = outstanding_discrepancy(pump=pump)
    flagged = unexplained or (last if last is not None and last.discrepancy_trend_flagged else None)
    if flagged is not None:
        on = format_date(flagged.performed_at.astimezone(zone).date())
        delta = flagged.discrepancy_ml
        if unexplained is not None:
            text = f"Unexplained volume discrepancy at the refill of {on}"
            action = unexplained.get_discrepancy_action_display()
            if unexplained.discrepancy_action:
                text = f"{text} ({action})"
        else:
            text = (
                f"Second volume discrepancy in the same direction in a row, at the refill of {on}"
            )
        if delta:
            side, kind = ("more", "under") if delta > 0 else ("less", "over")
            text += f": {abs(delta):.1f} mL {side} left than expected ({kind}-delivery)"
        # A trend alone is each time within tolerance: worth a look, not the HIGH of §8.
        severity = Tier.HIGH if unexplained is not None else Tier.MODERATE
        result.findings[AlertKind.DISCREPANCY] = Finding(
            AlertKind.DISCREPANCY, severity, [text], occasion=f"refill:{flagged.pk}"
        )
    if last is not None and last.pocket_fill_suspected:
        measured = last.measured_volume_after_fill_ml
        result.findings[AlertKind.POCKET_FILL] = Finding(
            AlertKind.POCKET_FILL,
            Tier.CRITICAL,
            [
                f"Possible pocket fill at the refill of "
                f"{format_date(last.performed_at.astimezone(zone).date())}: the pump measured "
                f"{measured:.1f} mL after {last.resulting_volume_ml:.1f} mL was programmed",
                "Watch for overdose now and for withdrawal later; the forecast uses the "
                "measured volume",
            ],
            occasion=f"refill:{last.pk}",
        )

    # ERI reached, end of service / the automatic shut-down near with no replacement
    # planned before it, or a replacement planned after it or too close to it: the tier's
    # device-life rules (a replacement date after end of service is not a plan).
    device = [codes[c] for c in DEVICE_CODES if c in codes]
    if device:
        eos = pump.end_of_service_on
        result.findings[AlertKind.DEVICE_END_OF_SERVICE] = Finding(
            AlertKind.DEVICE_END_OF_SERVICE,
            max(int(r["tier"]) for r in device),
            [r["text"] for r in device],
            occasion=f"eos:{eos.isoformat() if eos else ''}",
        )
    return result


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
            _auto_resolve(alert, now=now)
    return evaluation.thresholds


def _escalation_start(severity: int, now: dt.datetime) -> dt.datetime | None:
    if severity >= Tier.HIGH:
        return now + conf.minutes("ESCALATION_DELAY_MINUTES")
    return None


def alert_raise(
    *, pump: Pump, finding: Finding, now: dt.datetime, existing: Alert | None = None
) -> Alert | None:
    """Open an alert for the finding, or update the pump's unresolved one of that kind."""
    if existing is None:
        if (
            finding.occasion
            and Alert.objects.filter(
                pump=pump,
                kind=finding.kind,
                occasion=finding.occasion,
                state=AlertState.RESOLVED,
                resolved_by__isnull=False,
            ).exists()
        ):
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
            next_escalation_at=_escalation_start(finding.severity, now),
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
        reasons = (alert.reasons + [r for r in finding.reasons if r not in alert.reasons])[-20:]
    else:
        reasons = finding.reasons
    if reasons != alert.reasons:
        alert.reasons = reasons
        fields.append("reasons")
    if finding.occasion and finding.occasion != alert.occasion:
        alert.occasion = finding.occasion
        fields.append("occasion")
    if severity != alert.severity:
        rose = severity > alert.severity
        alert.severity = severity
        fields.append("severity")
        if rose and alert.state == AlertState.ACKNOWLEDGED and severity >= Tier.HIGH:
            # Worse than what was acknowledged: it needs someone's eyes again.
            alert.state = AlertState.OPEN
            fields.append("state")
        if alert.state == AlertState.OPEN:
            if severity >= Tier.HIGH and alert.next_escalation_at is None:
                alert.next_escalation_at = _escalation_start(severity, now)
            elif severity < Tier.HIGH:
                alert.next_escalation_at = None
            fields.append("next_escalation_at")
    if fields:
        alert.updated_at = now
        alert.save(update_fields=[*fields, "updated_at"])
    return alert


def _auto_resolve(alert: Alert, *, now: dt.datetime) -> None:
    changed = (
        Alert.objects.filter(pk=alert.pk)
        .exclude(state=AlertState.RESOLVED)
        .update(
            state=AlertState.RESOLVED,
            resolved_at=now,
            resolved_by=None,
            resolution_note="Cleared automatically: the condition no longer holds.",
            next_escalation_at=None,
            updated_at=now,
        )
    )
    if changed:
        alert.refresh_from_db()
        # The conditional UPDATE bypasses save(): write the audit row ourselves.
        Alert.history.bulk_history_create([alert], update=True, default_date=now)
        _cancel_pending_escalations(alert, reason="The alert cleared")
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
            Alert.history.bulk_history_create(
                [alert], update=True, default_user=by, default_date=now
            )
            _cancel_pending_escalations(alert, reason="The pump was explanted")
            closed += 1
    return closed


def _cancel_pending_escalations(alert: Alert, *, reason: str) -> None:
    Notification.objects.filter(alert=alert, status=NotificationStatus.PENDING).update(
        status=NotificationStatus.CANCELLED,
        suppressed_reason=reason,
        status_changed_at=timezone.now(),
    )


def alert_raise_delivery_failed(*, notification: Notification, now: dt.datetime) -> Alert | None:
    """A message finally failed: the clinic must reach the person another way."""
    pump = None
    if notification.appointment_id:
        pump = notification.appointment.pump
    elif notification.alert_id:
        pump = notification.alert.pump
    elif notification.patient_id:
        pump = Pump.objects.filter(
            patient_id=notification.patient_id, status=PumpStatus.ACTIVE
        ).first()
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


# --------------------------------------------------------------------------- escalation


def alert_url(alert: Alert) -> str:
    from django.conf import settings

    base = (settings.REMINDERS.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
    # The staff alert inbox, at this alert's card: every role that receives escalations can
    # open it (the Django admin is for platform operators only).
    try:
        return base + reverse("dashboard:alerts") + f"#alert-{alert.pk}"
    except NoReverseMatch:
        return base


def escalation_contacts(clinic_id: int) -> list[Membership]:
    """The clinic's escalation contacts; its managers when nobody is named."""
    memberships = Membership.objects.filter(
        clinic_id=clinic_id, user__is_active=True
    ).select_related("user")
    contacts = [m for m in memberships if m.receives_escalations]
    return contacts or [m for m in memberships if m.role == Role.MANAGER]


def _staff_drafts(alert: Alert, number: int, now: dt.datetime) -> list[Draft]:
    drafts = []
    clinic = alert.clinic
    zone = clinic.tz
    for membership in escalation_contacts(alert.clinic_id):
        user = membership.user
        context = {
            "first_name": user.first_name or user.username,
            "clinic_name": clinic.name,
            "alert_id": str(alert.pk),
            "alert_kind": alert.get_kind_display(),
            "severity": alert.severity_label.upper(),
            "alert_url": alert_url(alert),
            "escalation_number": str(number),
            "raised_at": format_when(alert.raised_at, zone),
        }
        addresses = []
        if user.email:
            addresses.append((Channel.EMAIL, user.email))
        try:
            phone = normalize_phone(user.phone)
        except ValidationError:
            phone = ""
        if phone:
            addresses.append((Channel.SMS, phone))
        for channel, address in addresses:
            recipient = Recipient(
                kind="user",
                id=user.pk,
                first_name=context["first_name"],
                channel=channel,
                address=address,
                zone=zone,
                staff_user_id=user.pk,
                patient_id=alert.patient_id,
            )
            drafts.append(
                draft_for(
                    key=f"alert:{alert.pk}:escalation-{number}:user:{user.pk}:{channel}",
                    kind=NotificationKind.STAFF_ESCALATION,
                    stage=f"escalation-{number}",
                    recipient=recipient,
                    clinic=clinic,
                    context=context,
                    now=now,
                    # Escalation contacts asked for these; a CRITICAL alert cannot wait for 8 am.
                    quiet_hours=False,
                    alert_id=alert.pk,
                )
            )
    return drafts


def alert_escalate(alert: Alert, *, now: dt.datetime) -> bool:
    """Send notice number escalation_count + 1, if no overlapping sweep sent it first."""
    number = alert.escalation_count + 1
    drafts = _staff_drafts(alert, number, now)
    with transaction.atomic():
        # Only the sweep that moves the counter sends; the keys would de-duplicate anyway.
        won = Alert.objects.filter(
            pk=alert.pk, state=AlertState.OPEN, escalation_count=alert.escalation_count
        ).update(
            escalation_count=number,
            last_escalated_at=now,
            next_escalation_at=now + conf.minutes("ESCALATION_REPEAT_MINUTES"),
        )
        if won:
            alert.refresh_from_db()
            Alert.history.bulk_history_create([alert], update=True, default_date=now)
            notifications_insert(drafts, now=now)
            if not drafts:
                logger.warning("alert %s: clinic %s has nobody to tell", alert.pk, alert.clinic_id)
    return bool(won)


def alerts_escalate_due(*, now: dt.datetime, limit: int = 500) -> int:
    """Send unacknowledged HIGH/CRITICAL alerts to the escalation contacts, again until acked."""
    due = (
        Alert.objects.filter(
            state=AlertState.OPEN, next_escalation_at__lte=now, severity__gte=Tier.HIGH
        )
        .select_related("clinic")
        .order_by("next_escalation_at")[:limit]
    )
    return sum(alert_escalate(alert, now=now) for alert in due)


# --------------------------------------------------------------------------- acting on alerts


def _require_actor(alert: Alert, by) -> None:
    if by is None or not can(by, "act_on_alerts", alert.clinic):
        raise PermissionDenied("You cannot act on this clinic's alerts.")


def _locked(alert: Alert) -> Alert:
    # A row lock on PostgreSQL; SQLite's IMMEDIATE transactions already serialize writers.
    return Alert.objects.select_for_update().select_related("clinic").get(pk=alert.pk)


def alert_acknowledge(*, alert: Alert, by, now: dt.datetime | None = None) -> Alert:
    """Someone has seen it and is acting: escalation stops. Idempotent."""
    _require_actor(alert, by)
    now = now or timezone.now()
    with transaction.atomic():
        row = _locked(alert)
        if row.state == AlertState.RESOLVED:
            raise ValidationError("This alert is already resolved.")
        if row.state == AlertState.OPEN:
            row.state = AlertState.ACKNOWLEDGED
            row.acknowledged_by = by
            row.acknowledged_at = now
            row.next_escalation_at = None
            row.updated_at = now
            row.save(
                update_fields=[
                    "state",
                    "acknowledged_by",
                    "acknowledged_at",
                    "next_escalation_at",
                    "updated_at",
                ]
            )
            _cancel_pending_escalations(row, reason="The alert was acknowledged")
    return row


def alert_assign(*, alert: Alert, by, assignee, now: dt.datetime | None = None) -> Alert:
    """Give the alert to a colleague at the same clinic (None to unassign)."""
    _require_actor(alert, by)
    if (
        assignee is not None
        and not Membership.objects.filter(
            user=assignee,
            user__is_active=True,
            clinic_id=alert.clinic_id,
            role__in=PERMISSIONS["act_on_alerts"],
        ).exists()
    ):
        raise ValidationError(
            {"assignee": "Assign the alert to someone at this clinic whose role acts on alerts."}
        )
    with transaction.atomic():
        row = _locked(alert)
        row.assignee = assignee
        row.updated_at = now or timezone.now()
        row.save(update_fields=["assignee", "updated_at"])
    return row


def alert_resolve(*, alert: Alert, by, note: str, now: dt.datetime | None = None) -> Alert:
    """Close the alert with what was done. Needed for discrepancies and failed deliveries."""
    _require_actor(alert, by)
    if not note.strip():
        raise ValidationError({"note": "Say what was done, so the next person knows."})
    check_free_text(note=note)
    now = now or timezone.now()
    with transaction.atomic():
        row = _locked(alert)
        if row.state == AlertState.RESOLVED:
            raise ValidationError("This alert is already resolved.")
        row.state = AlertState.RESOLVED
        row.resolved_by = by
        row.resolved_at = now
        row.resolution_note = note.strip()
        row.next_escalation_at = None
        row.updated_at = now
        row.save(
            update_fields=[
                "state",
                "resolved_by",
                "resolved_at",
                "resolution_note",
                "next_escalation_at",
                "updated_at",
            ]
        )
        _cancel_pending_escalations(row, reason="The alert was resolved")
    return row
