"""Report 4, reminder delivery: patient and caregiver messages by channel and status,
the delivery rate, failures by reason, opt-outs, and patients no reminder can reach."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q

from patients.models import Caregiver, Channel, Patient
from reminders.models import Notification, NotificationStatus
from reports.charts import BarChart, Series
from reports.metrics.common import (
    Report,
    Scope,
    Table,
    patient_name,
    percent,
)

UNREACHABLE_ROWS_SHOWN = 200
ST = NotificationStatus
# Every status has a colour: the chart shows each status counted in the total.
STATUS_CSS = {
    ST.DELIVERED: "s1",
    ST.SENT: "s2",
    ST.SENDING: "s6",
    ST.PENDING: "s7",
    ST.FAILED: "s4",
    ST.SUPPRESSED: "s3",
    ST.CANCELLED: "s5",
}
OPTED_OUT = "opted out"  # the words the delivery code writes for a STOP from the carrier


def _messages(scope: Scope):
    # Staff escalations are not reminders: only messages to patients and caregivers.
    return Notification.objects.filter(
        clinic_id__in=scope.clinic_ids,
        created_at__gte=scope.start,
        created_at__lt=scope.end,
        staff_user__isnull=True,
    )


def unreachable_patients(scope: Scope):
    """Active patients with no consented channel of their own and no caregiver who
    receives reminders on a consented channel."""
    caregiver = Caregiver.objects.filter(patient_id=OuterRef("pk"), receives_reminders=True).filter(
        Q(consent_sms=True) | Q(consent_email=True)
    )
    return Patient.objects.filter(
        clinic_id__in=scope.clinic_ids, is_active=True, consent_sms=False, consent_email=False
    ).exclude(Exists(caregiver))


def delivery_report(*, scope: Scope) -> Report:
    messages = _messages(scope)
    grid = {
        (r["channel"], r["status"]): r["n"]
        for r in messages.values("channel", "status").annotate(n=Count("id")).order_by()
    }
    # Every channel with a message (a message with no channel is "not sent"), else the two.
    channels = [c for c in Channel if any(k[0] == c for k in grid)] or [
        Channel.SMS,
        Channel.EMAIL,
    ]
    statuses = list(ST)

    def total(*wanted):
        return sum(n for (_, status), n in grid.items() if status in wanted)

    reached = total(ST.DELIVERED, ST.SENT)
    attempted = reached + total(ST.FAILED)
    failures = list(
        messages.filter(status=ST.FAILED)
        .values("last_error")
        .annotate(n=Count("id"))
        .order_by("-n", "last_error")[:50]
    )
    suppressed = list(
        messages.filter(status=ST.SUPPRESSED)
        .values("suppressed_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "suppressed_reason")[:50]
    )
    opt_outs = sum(r["n"] for r in suppressed if OPTED_OUT in r["suppressed_reason"])
    unreachable, count = _unreachable_table(scope)
    return Report(
        key="delivery",
        title="Reminder delivery",
        scope=scope,
        figures=[
            ("Messages", sum(grid.values())),
            ("Delivery rate (sent or delivered, of those attempted)", percent(reached, attempted)),
            ("Failed", total(ST.FAILED)),
            ("Opt-outs (STOP from the carrier)", opt_outs),
            ("Patients with no consented channel", count),
        ],
        chart=_chart(grid, channels),
        tables=[
            Table(
                "By channel and status",
                ["Channel", *[s.label for s in statuses]],
                [
                    [Channel(c).label, *[grid.get((c, s.value), 0) for s in statuses]]
                    for c in channels
                ],
            ),
            Table(
                "Failures by reason",
                ["Reason", "Messages"],
                [[r["last_error"] or "(no reason given)", r["n"]] for r in failures],
            ),
            Table(
                "Not sent, by reason (opt-outs, consent, quiet checks)",
                ["Reason", "Messages"],
                [[r["suppressed_reason"] or "(no reason given)", r["n"]] for r in suppressed],
            ),
            unreachable,
        ],
        notes=[
            "Messages to patients and caregivers created in the period (clinic time); staff "
            "escalations are not counted. Delivery rate: sent or delivered ÷ (sent, "
            "delivered or failed); waiting, not-sent and cancelled ones are left out."
        ],
    )


def _chart(grid: dict, channels: list) -> BarChart:
    # The statuses with a message (every one counted in the total), else the main four.
    shown = [s for s in STATUS_CSS if any(k[1] == s for k in grid)] or [
        ST.DELIVERED,
        ST.SENT,
        ST.FAILED,
        ST.SUPPRESSED,
    ]
    return BarChart(
        title="Messages by channel and status",
        labels=tuple(Channel(c).label for c in channels),
        series=tuple(
            Series(s.label, tuple(grid.get((c, s.value), 0) for c in channels), STATUS_CSS[s])
            for s in shown
        ),
    )


def _unreachable_table(scope: Scope) -> tuple[Table, int]:
    unreachable = unreachable_patients(scope)
    count = unreachable.count()
    names = unreachable.order_by("family_name", "given_name").values(
        "id", "family_name", "given_name"
    )[:UNREACHABLE_ROWS_SHOWN]
    note = (
        f"First {UNREACHABLE_ROWS_SHOWN} of {count} shown."
        if count > UNREACHABLE_ROWS_SHOWN
        else "Nobody consented on any channel: these patients get no reminder; "
        "they need a phone call."
    )
    table = Table(
        f"Patients with no consented channel ({count})",
        ["Patient"],
        [[patient_name(r)] for r in names],
        note=note,
    )
    return table, count
