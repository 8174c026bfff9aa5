"""Default message texts, editable by managers afterwards (reminders.messages.DEFAULTS)."""

from django.db import migrations

# A copy, not an import: this migration must create the same rows forever.
DEFAULTS = [
    (
        "booking-confirmation",
        "sms",
        "",
        "Hi {first_name}, {clinic_name} has booked {whose} appointment for {when}. "
        "To change it, call {clinic_phone}.",
    ),
    (
        "booking-confirmation",
        "email",
        "Your appointment at {clinic_name}",
        "Hello {first_name},\n\n{clinic_name} has booked {whose} appointment for {when}.\n\n"
        "If you need to change it, please call us at {clinic_phone}.\n\n{clinic_name}\n",
    ),
    (
        "appointment-reminder",
        "sms",
        "",
        "Hi {first_name}, a reminder from {clinic_name}: {whose} appointment is {days_ahead}, "
        "{when}. If you can't come, please call {clinic_phone} to rebook.",
    ),
    (
        "appointment-reminder",
        "email",
        "Reminder: appointment {days_ahead} at {clinic_name}",
        "Hello {first_name},\n\nThis is a reminder that {whose} appointment at {clinic_name} "
        "is {days_ahead}: {when}.\n\nIf you can't come, please call us at {clinic_phone} "
        "to choose another date as soon as possible.\n\n{clinic_name}\n",
    ),
    (
        "missed-appointment",
        "sms",
        "",
        "Hi {first_name}, we missed {whom} at {clinic_name} on {when}. "
        "Please call {clinic_phone} as soon as you can to rebook.",
    ),
    (
        "missed-appointment",
        "email",
        "We missed {whom} at {clinic_name}",
        "Hello {first_name},\n\nWe missed {whom} at {clinic_name} on {when}.\n\n"
        "Please call us at {clinic_phone} as soon as you can to choose a new date. "
        "It should not wait.\n\n{clinic_name}\n",
    ),
    (
        "unbooked-nudge",
        "sms",
        "",
        "Hi {first_name}, it is time to book {whose} next appointment at {clinic_name}. "
        "Please call {clinic_phone} to book a date before {refill_by}.",
    ),
    (
        "unbooked-nudge",
        "email",
        "Time to book {whose} next appointment at {clinic_name}",
        "Hello {first_name},\n\nIt is time to book {whose} next appointment at {clinic_name}. "
        "Please call us at {clinic_phone} to book a date before {refill_by}.\n\n{clinic_name}\n",
    ),
    (
        "staff-escalation",
        "sms",
        "",
        "pumptrack: {severity} alert #{alert_id} at {clinic_name} ({alert_kind}) is not "
        "acknowledged. {alert_url}",
    ),
    (
        "staff-escalation",
        "email",
        "[pumptrack] {severity} alert #{alert_id} is not acknowledged",
        "Hello {first_name},\n\nA {severity} alert at {clinic_name} has not been acknowledged "
        "(raised {raised_at}; notice {escalation_number}).\n\nKind: {alert_kind}\n\n"
        "Open it here: {alert_url}\n\nYou receive this because you are an escalation "
        "contact for {clinic_name}.\n",
    ),
    (
        "sweep-resumed",
        "email",
        "[pumptrack] Reminders are running again",
        "Hello {first_name},\n\nThe reminder sweep had not finished since {last_sweep_at} "
        "({stale_minutes} minutes). It ran again at {resumed_at}; reminders and alerts that "
        "became due meanwhile are being sent now.\n\nPlease check the alert queue.\n",
    ),
]


def create_defaults(apps, schema_editor):
    MessageTemplate = apps.get_model("reminders", "MessageTemplate")
    for kind, channel, subject, body in DEFAULTS:
        MessageTemplate.objects.get_or_create(
            clinic=None, kind=kind, channel=channel, defaults={"subject": subject, "body": body}
        )


def remove_defaults(apps, schema_editor):
    MessageTemplate = apps.get_model("reminders", "MessageTemplate")
    MessageTemplate.objects.filter(clinic__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("reminders", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
