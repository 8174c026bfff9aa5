"""Message texts: minimal health information, placeholders, templates managers edit."""

import datetime as dt
import importlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Role
from patients.models import Channel
from reminders import messages
from reminders.models import MessageTemplate, Notification
from reminders.quiet import is_allowed, next_allowed
from reminders.services import message_template_save
from tests.factories import CaregiverFactory, staff
from tests.reminders.conftest import DAY, LA, NY, book, deliver_due, sweep

PATIENT_KINDS = [
    "booking-confirmation",
    "appointment-reminder",
    "missed-appointment",
    "unbooked-nudge",
    "overdue-call",
]


def test_the_data_migration_installs_every_default_text(db):
    installed = {}
    for name in ("0002_default_message_templates", "0005_message_recheck_at_send"):
        migration = importlib.import_module(f"reminders.migrations.{name}")
        installed.update({(k, c): (s, b) for k, c, s, b in migration.DEFAULTS})
    assert installed == {
        (k, str(c)): (t.subject, t.body) for (k, c), t in messages.DEFAULTS.items()
    }
    stored = {(t.kind, t.channel) for t in MessageTemplate.objects.filter(clinic__isnull=True)}
    assert stored == set(installed)


@pytest.mark.parametrize("key", sorted(messages.DEFAULTS, key=str), ids=str)
def test_default_texts_pass_their_own_rules(key):
    text = messages.DEFAULTS[key]
    assert (
        messages.template_problems(
            kind=key[0], channel=key[1], subject=text.subject, body=text.body
        )
        == []
    )


def test_sms_reminders_carry_name_clinic_time_and_phone_but_no_health_details(
    filled_pump, nurse, clock
):
    patient = filled_pump.patient
    patient.mrn = "MRN-778899"
    patient.save()
    book(filled_pump, nurse, dt.datetime(2025, 6, 23, 9, 30, tzinfo=NY))
    clock.shift(7 * DAY)
    sweep()
    bodies = [n.body for n in Notification.objects.filter(channel=Channel.SMS)]
    assert len(bodies) == 2  # the confirmation, then the 14-day reminder
    for body in bodies:
        assert patient.given_name in body
        assert filled_pump.patient.clinic.name in body
        assert "+1 617-555-0100" in body
        assert "Mon 23 Jun 2025 at 9:30 AM EDT" in body
        for word in ("778899", "baclofen", "Gablofen", "mcg", "dose", "CANCEL", "cancel"):
            assert word not in body


def test_a_template_with_health_details_or_an_opt_out_word_is_refused(db):
    template = MessageTemplate(
        kind="appointment-reminder",
        channel=Channel.SMS,
        body="Hi {first_name}, your baclofen refill (MRN {mrn}) is due. Reply CANCEL to cancel.",
    )
    with pytest.raises(ValidationError) as error:
        template.full_clean()
    text = " ".join(error.value.messages)
    assert "{mrn} is not available" in text
    assert "baclofen" in text
    assert "cancel" in text


def test_staff_texts_may_name_the_alert_but_not_patient_placeholders():
    problems = messages.template_problems(
        kind="staff-escalation", channel="sms", subject="", body="Alert {alert_id} for {whose}"
    )
    assert problems == [problems[0]] and "{whose} is not available" in problems[0]


def test_a_clinic_template_replaces_the_default_for_that_clinic_only(clinic, filled_pump, nurse):
    manager = staff(clinic, Role.MANAGER)
    template = MessageTemplate(
        clinic=clinic,
        kind="booking-confirmation",
        channel=Channel.SMS,
        body="{first_name}: see you {when}. {clinic_name}, {clinic_phone}",
    )
    message_template_save(template=template, by=manager)
    assert template.updated_by == manager
    book(filled_pump, nurse, dt.datetime(2025, 6, 23, 9, 30, tzinfo=NY))
    assert Notification.objects.get().body.startswith(f"{filled_pump.patient.given_name}: see you")


def test_only_managers_edit_their_clinic_templates(clinic, nurse):
    template = MessageTemplate(clinic=clinic, kind="booking-confirmation", channel="sms", body="x")
    with pytest.raises(PermissionDenied):
        message_template_save(template=template, by=nurse)


def test_a_caregiver_reads_the_time_in_their_own_zone(filled_pump, nurse):
    CaregiverFactory(
        patient=filled_pump.patient, name="Grace Testcarer", timezone="America/Los_Angeles"
    )
    book(filled_pump, nurse, dt.datetime(2025, 6, 23, 9, 30, tzinfo=NY))
    caregiver_text = Notification.objects.get(caregiver__isnull=False).body
    assert caregiver_text.startswith("Hi Grace,")
    assert f"{filled_pump.patient.given_name}'s appointment" in caregiver_text
    assert "Mon 23 Jun 2025 at 6:30 AM PDT" in caregiver_text


def test_email_reminders_have_a_subject_and_the_same_minimal_content(filled_pump, nurse):
    patient = filled_pump.patient
    patient.preferred_channel = Channel.EMAIL
    patient.save()
    book(filled_pump, nurse, dt.datetime(2025, 6, 23, 9, 30, tzinfo=NY))
    row = Notification.objects.get()
    assert row.channel == Channel.EMAIL and row.to_address == patient.email
    assert row.subject == f"Your appointment at {patient.clinic.name}"
    assert deliver_due() == ["sent"]
    from django.core import mail

    assert mail.outbox[0].extra_headers["X-Pumptrack-Reference"] == str(row.reference)


# --------------------------------------------------------------------------- quiet hours

HOURS = {"from_hour": 8, "until_hour": 21}


def test_daytime_is_allowed_at_once():
    now = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)  # 10:00 in New York
    assert next_allowed(now, NY, **HOURS) == now


def test_a_message_due_late_in_the_evening_waits_for_eight_the_next_morning():
    now = dt.datetime(2025, 6, 3, 1, 30, tzinfo=dt.UTC)  # 21:30 on 2 June in New York
    assert next_allowed(now, NY, **HOURS) == dt.datetime(2025, 6, 3, 8, 0, tzinfo=NY)
    assert not is_allowed(now, NY, **HOURS)


def test_a_message_due_before_dawn_waits_for_eight_the_same_morning():
    now = dt.datetime(2025, 6, 2, 7, 0, tzinfo=dt.UTC)  # 03:00 in New York
    assert next_allowed(now, NY, **HOURS) == dt.datetime(2025, 6, 2, 8, 0, tzinfo=NY)


def test_quiet_hours_follow_the_recipient_not_the_clinic():
    now = dt.datetime(2025, 6, 2, 13, 0, tzinfo=dt.UTC)  # 09:00 in New York, 06:00 in LA
    assert next_allowed(now, NY, **HOURS) == now
    assert next_allowed(now, LA, **HOURS) == dt.datetime(2025, 6, 2, 15, 0, tzinfo=dt.UTC)


def test_eight_in_the_morning_survives_the_daylight_saving_changes():
    spring = dt.datetime(2025, 3, 9, 6, 30, tzinfo=dt.UTC)  # 01:30 EST, clocks go forward at 2
    assert next_allowed(spring, NY, **HOURS) == dt.datetime(2025, 3, 9, 12, 0, tzinfo=dt.UTC)
    autumn = dt.datetime(2025, 11, 2, 5, 30, tzinfo=dt.UTC)  # 01:30 EDT, clocks go back at 2
    assert next_allowed(autumn, NY, **HOURS) == dt.datetime(2025, 11, 2, 13, 0, tzinfo=dt.UTC)


def test_the_sweep_holds_night_messages_and_sends_them_in_the_morning(filled_pump, nurse, clock):
    book(filled_pump, nurse, dt.datetime(2025, 6, 23, 23, 30, tzinfo=NY) - dt.timedelta(hours=1))
    deliver_due()
    clock.move_to(dt.datetime(2025, 6, 9, 22, 30, tzinfo=NY))  # the 14-day reminder is due
    sweep()
    row = Notification.objects.get(stage="reminder-14d")
    assert row.not_before == dt.datetime(2025, 6, 10, 8, 0, tzinfo=NY)
    assert row.status == "pending"
    assert sweep().published == []  # held, not dropped, not sent
    clock.move_to(dt.datetime(2025, 6, 10, 8, 0, tzinfo=NY))
    assert sweep().published == [row.pk]
    assert deliver_due() == ["sent"]


@pytest.mark.parametrize("after_hours", ["+16175550199", ""])
def test_the_call_today_text_gives_the_after_hours_line_and_the_emergency_route(db, after_hours):
    """An overdue patient may call after the clinic has closed: the text gives the
    after-hours line (the day line when the clinic has none) and says not to wait."""
    from zoneinfo import ZoneInfo

    from patients.models import Channel
    from reminders.outbox import Recipient, patient_context
    from tests.factories import ClinicFactory, PatientFactory

    clinic = ClinicFactory(after_hours_phone=after_hours)
    patient = PatientFactory(clinic=clinic)
    recipient = Recipient(
        "patient", patient.pk, "Ada", Channel.SMS, "+16175550123", ZoneInfo("UTC")
    )
    context = patient_context(recipient, patient, clinic)
    body = messages.render(messages.DEFAULTS[("overdue-call", Channel.SMS)].body, context)
    assert "(after hours: +1 617" in body or "after hours: (617)" in body or "after hours" in body
    assert context["clinic_after_hours_phone"] in body
    expected_line = str(after_hours or clinic.phone)
    assert (
        context["clinic_after_hours_phone"]
        .replace(" ", "")
        .replace("-", "")
        .endswith(expected_line[-4:])
    )
    assert "emergency department" in body
    assert "{" not in body


@pytest.mark.parametrize(
    "disguised",
    ["bac\u200blofen", "D\u200dOSE", "CAN\u00adCEL", "\uff42aclofen", "Lio\u2060resal"],
    ids=["zero-width space", "zero-width joiner", "soft hyphen", "full-width", "word joiner"],
)
def test_a_forbidden_word_cannot_be_disguised_with_invisible_or_wide_characters(disguised):
    problems = messages.template_problems(
        kind="booking-confirmation",
        channel="sms",
        subject="",
        body=f"Hi {{first_name}}, about your {disguised}.",
    )
    assert any("must not contain" in problem for problem in problems), problems
