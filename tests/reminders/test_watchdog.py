"""The watchdog: once per outage to the escalation contacts, again on recovery, no sleeps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Membership, Role
from reminders.channels import LocmemSmsBackend, TransientSendError
from reminders.models import Notification, SweepHeartbeat, WatchdogState
from reminders.watchdog import watchdog_check
from tests.factories import ClinicFactory, staff

SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def contacts(clinic):
    """A named escalation contact with a phone, and a manager (not a contact then)."""
    nurse = staff(clinic, Role.NURSE, phone="617 555 0150")
    Membership.objects.filter(user=nurse).update(receives_escalations=True)
    staff(clinic, Role.MANAGER)
    return [nurse]


def heartbeat(at: dt.datetime, *, ok: bool = True) -> SweepHeartbeat:
    return SweepHeartbeat.objects.create(started_at=at - SECOND, finished_at=at, ok=ok)


def test_sweeps_on_time_send_nothing(contacts):
    now = timezone.now()
    heartbeat(now - 100 * SECOND)
    result = watchdog_check(now=now)
    assert not result.late and result.event == "" and Notification.objects.count() == 0


def test_an_outage_is_announced_once_by_email_and_text_to_the_escalation_contacts(
    contacts, sms_outbox
):
    now = timezone.now()
    heartbeat(now - 121 * SECOND)  # two intervals (120 s) and a second
    result = watchdog_check(now=now)
    assert result.late and result.event == "announced" and result.outage_number == 1
    assert sorted(result.outcomes) == ["sent", "sent"]
    assert [m.to for m in mail.outbox] == [[contacts[0].email]]
    assert "reminders have stopped" in mail.outbox[0].subject
    assert len(sms_outbox) == 1 and sms_outbox[0]["to"] == "+16175550150"
    # Every later check of the same outage, and a restarted watchdog, stays quiet.
    for later in (30, 60, 600):
        again = watchdog_check(now=now + later * SECOND)
        assert again.late and again.event == "" and again.outcomes == []
    assert len(mail.outbox) == 1 and len(sms_outbox) == 1
    assert WatchdogState.objects.get().outage_number == 1


def test_recovery_is_announced_once_then_a_new_outage_is_a_new_alert(contacts, sms_outbox):
    now = timezone.now()
    heartbeat(now - 200 * SECOND)
    watchdog_check(now=now)
    heartbeat(now + 10 * SECOND)
    back = watchdog_check(now=now + 30 * SECOND)
    assert back.event == "recovered" and not back.late
    assert "running again" in mail.outbox[-1].subject and len(mail.outbox) == 2
    assert watchdog_check(now=now + 60 * SECOND).event == ""
    assert len(mail.outbox) == 2 and len(sms_outbox) == 2
    second = watchdog_check(now=now + 300 * SECOND)
    assert second.event == "announced" and second.outage_number == 2
    assert len(mail.outbox) == 3


def test_the_alert_reaches_the_contacts_within_three_minutes_of_the_last_sweep(contacts):
    """A check every 30 s and the two-interval limit: at most 150 s after the last sweep."""
    last = timezone.now()
    heartbeat(last)
    sent_at = None
    for tick in range(0, 400, 30):  # the watchdog's checks, 30 s apart
        now = last + tick * SECOND
        if watchdog_check(now=now).event == "announced":
            sent_at = now
            break
    assert sent_at is not None and sent_at - last <= dt.timedelta(minutes=3)


class FailsOnce(LocmemSmsBackend):
    failed = False

    def send(self, message, *, timeout):
        if not FailsOnce.failed:
            FailsOnce.failed = True
            raise TransientSendError("twilio-503")
        return super().send(message, timeout=timeout)


def test_a_failed_send_is_retried_by_the_next_check_not_announced_again(
    contacts, settings, sms_outbox
):
    settings.REMINDERS = {
        **settings.REMINDERS,
        "SMS_BACKEND": "tests.reminders.test_watchdog.FailsOnce",
    }
    FailsOnce.failed = False
    now = timezone.now()
    heartbeat(now - 200 * SECOND)
    first = watchdog_check(now=now)
    assert sorted(first.outcomes) == ["retry", "sent"]
    later = watchdog_check(now=now + 60 * SECOND)
    assert later.event == "" and later.outcomes == ["sent"]
    assert len(sms_outbox) == 1 and len(mail.outbox) == 1


def test_a_contact_of_two_clinics_is_told_once(contacts, clinic):
    other = ClinicFactory()
    Membership.objects.create(
        user=contacts[0], clinic=other, role=Role.NURSE, receives_escalations=True
    )
    now = timezone.now()
    heartbeat(now - 200 * SECOND)
    watchdog_check(now=now)
    assert len(mail.outbox) == 1


def test_a_fresh_install_without_any_sweep_counts_from_the_first_check(contacts):
    now = timezone.now()
    assert watchdog_check(now=now).event == ""
    assert watchdog_check(now=now + 121 * SECOND).event == "announced"


def test_only_complete_sweeps_count(contacts):
    now = timezone.now()
    heartbeat(now - 300 * SECOND)
    heartbeat(now - 10 * SECOND, ok=False)
    assert watchdog_check(now=now).event == "announced"


def test_the_command_checks_once(contacts, capsys):
    heartbeat(timezone.now() - 600 * SECOND)
    call_command("watchdog", "--once")
    out = capsys.readouterr().out
    assert "LATE" in out and "outage 1 announced" in out
    assert len(mail.outbox) == 1
    call_command("watchdog", "--once")
    assert len(mail.outbox) == 1
