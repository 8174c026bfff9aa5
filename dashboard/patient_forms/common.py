"""What the patient, caregiver and pump forms share: labelled fields from the models,
the contact rules, date bounds and the crispy helper."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms

from patients.models import (
    ALARM_VOLUME_MAX_ML,
    ALARM_VOLUME_MIN_ML,
    Channel,
    Patient,
)
from patients.validators import normalize_phone, region_timezones
from pumptrack.limits import checked_on_submit

from ..forms.findings import add_findings_to_form

# The pages call it by this name: the one helper that puts a service's refusal on a form.
add_service_errors = add_findings_to_form

# Dates outside these bounds are typing slips, and far-future dates overflow the
# date arithmetic of the forecast (ERI + grace, replacement date + margin).
EARLIEST_BIRTH = dt.date(1900, 1, 1)
EARLIEST_IMPLANT = dt.date(1980, 1, 1)
LATEST_PLANNED_YEARS = 20
EARLIEST_REPORT = dt.datetime(2000, 1, 1)
# A report typed a few minutes ahead of the server clock is a clock skew, not the future.
REPORT_CLOCK_SLACK = dt.timedelta(minutes=10)
# The alarm-volume limits are the model's validators (patients.models); the 4 mL is
# domain.md's advice after symptoms before the alarm, not a limit.
ALARM_VOLUME_HELP = (
    f"{ALARM_VOLUME_MIN_ML.normalize():f}–{ALARM_VOLUME_MAX_ML.normalize():f} mL; "
    "consider 4 mL after symptoms before the alarm."
)
PHONE_MAX_TYPED = 30  # "+1 (617) 555-0142 ext. 12" typed; stored as E.164 (≤ 16).

PATIENT_RISK_FIELDS = (
    *(name for name, _ in Patient.LABEL_RISK_FACTORS),
    *(name for name, _ in Patient.OTHER_RISK_FACTORS),
    "oral_baclofen_bridge",
)


@lru_cache(maxsize=1)
def timezone_choices() -> tuple[tuple[str, str], ...]:
    return tuple((name, name.replace("_", " ")) for name in sorted(region_timezones()))


def verbose_label(model, name: str) -> str:
    label = str(model._meta.get_field(name).verbose_name)
    return label[:1].upper() + label[1:]


def char_field(model, name: str, *, required: bool | None = None, **kwargs) -> forms.CharField:
    model_field = model._meta.get_field(name)
    field = forms.CharField(
        label=kwargs.pop("label", verbose_label(model, name)),
        max_length=model_field.max_length,
        required=(not model_field.blank) if required is None else required,
        help_text=kwargs.pop("help_text", model_field.help_text),
        **kwargs,
    )
    return checked_on_submit(field)


def email_field() -> forms.EmailField:
    return checked_on_submit(forms.EmailField(label="Email", required=False, max_length=254))


def boolean_field(model, name: str) -> forms.BooleanField:
    model_field = model._meta.get_field(name)
    return forms.BooleanField(
        label=verbose_label(model, name), required=False, help_text=model_field.help_text
    )


def phone_field(help_text: str = "") -> forms.CharField:
    field = forms.CharField(
        label="Mobile phone",
        required=False,
        max_length=PHONE_MAX_TYPED,
        help_text=help_text
        or "Type it as you hear it, e.g. (617) 555-0142; it is stored as +16175550142.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    return checked_on_submit(field)


def timezone_field(help_text: str) -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Time zone", required=False, help_text=help_text, choices=[("", "—")]
    )


def form_helper(*layout) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    if layout:
        helper.layout = Layout(*layout)
    return helper


def contact_layout() -> tuple:
    """How to reach a person and with their consent: the patient's and a caregiver's form."""
    return (
        Row(
            Column("phone", css_class="col-md-6"),
            Column("email", css_class="col-md-6"),
        ),
        Row(
            Column("preferred_channel", css_class="col-md-6"),
            Column("timezone", css_class="col-md-6"),
        ),
        "consent_sms",
        "consent_email",
    )


class ContactRulesMixin:
    """The checks a person's contacts need, shown with the other errors before saving."""

    def clean_phone(self) -> str:
        # The service normalises too; doing it here shows the error with the others.
        return normalize_phone(self.cleaned_data.get("phone", ""))

    def check_channel(self, data: dict) -> None:
        channel = data.get("preferred_channel")
        if channel == Channel.SMS and "phone" in data and not data.get("phone"):
            self.add_error("phone", "Text-message reminders need a mobile phone number.")
        if channel == Channel.EMAIL and "email" in data and not data.get("email"):
            self.add_error("email", "Email reminders need an email address.")
