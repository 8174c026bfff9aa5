"""Forms for clinic administration: the clinic's settings and its staff.

They parse and label input; accounts.services (clinic_settings_update, which checks
the manager role before patients.services.clinic_settings_save writes, and the staff
services) decide what is valid (the Clinic model's validators, clean() and
constraints) and write. Service errors are shown under their input.
"""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Fieldset, Layout, Row
from django import forms

from accounts.models import Role
from patients.forms import working_days_field
from patients.models import Clinic

from .forms.fields import DateInput, TimeInput, sane_year
from .patient_forms.common import PHONE_MAX_TYPED, add_service_errors, timezone_choices

__all__ = [
    "ClinicSettingsForm",
    "ClosureForm",
    "InviteForm",
    "MembershipForm",
    "add_service_errors",
]


def _help(name: str) -> str:
    return str(Clinic._meta.get_field(name).help_text)


class ClinicSettingsForm(forms.Form):
    phone = forms.CharField(
        label="Phone number patients call", max_length=PHONE_MAX_TYPED, help_text=_help("phone")
    )
    after_hours_phone = forms.CharField(
        label="After-hours / pump team emergency number",
        max_length=PHONE_MAX_TYPED,
        required=False,
        help_text="Given to patients who feel unwell outside opening hours.",
    )
    timezone = forms.ChoiceField(label="Time zone", help_text=_help("timezone"))
    default_refill_margin_days = forms.IntegerField(
        label="Refill margin (days)",
        min_value=3,
        max_value=30,
        help_text=_help("default_refill_margin_days")
        + " Changing it recomputes every active pump's refill-by date.",
    )
    working_days = working_days_field()
    day_starts = forms.TimeField(label="Opens at", widget=TimeInput(), help_text="Clinic time.")
    day_ends = forms.TimeField(
        label="Closes at",
        widget=TimeInput(),
        help_text="Clinic time. Every visit must have ended by then.",
    )
    refill_slots_per_day = forms.IntegerField(
        label="Refill slots per day",
        min_value=1,
        max_value=500,
        help_text=_help("refill_slots_per_day"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = timezone_choices()
        stored = self.initial.get("working_days")
        if isinstance(stored, str):
            self.initial["working_days"] = list(stored)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Fieldset(
                "Phone numbers",
                Row(
                    Column("phone", css_class="col-md-6"),
                    Column("after_hours_phone", css_class="col-md-6"),
                ),
            ),
            Fieldset(
                "Opening hours",
                "working_days",
                Row(
                    Column("day_starts", css_class="col-6 col-md-3"),
                    Column("day_ends", css_class="col-6 col-md-3"),
                ),
            ),
            Fieldset(
                "Time and refills",
                "timezone",
                "default_refill_margin_days",
                "refill_slots_per_day",
            ),
        )

    def clean_working_days(self) -> str:
        return "".join(sorted(set(self.cleaned_data["working_days"])))

    def settings_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data["after_hours_phone"] = data.get("after_hours_phone") or ""
        return data


def initial_settings(clinic: Clinic) -> dict:
    return {
        "phone": clinic.phone,
        "after_hours_phone": clinic.after_hours_phone,
        "timezone": clinic.timezone,
        "default_refill_margin_days": clinic.default_refill_margin_days,
        "working_days": clinic.working_days,
        "day_starts": clinic.day_starts,
        "day_ends": clinic.day_ends,
        "refill_slots_per_day": clinic.refill_slots_per_day,
    }


class MembershipForm(forms.Form):
    role = forms.ChoiceField(label="Role at this clinic", choices=Role.choices)
    receives_escalations = forms.BooleanField(
        label="Receives escalations (unacknowledged HIGH and CRITICAL alerts)", required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class InviteForm(MembershipForm):
    """An address and a role: nothing else (no name: the invitee types their own when
    they accept, so nothing a manager typed reaches their account or their email)."""

    email = forms.EmailField(label="Email address", max_length=254)
    field_order = ["email", "role", "receives_escalations"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper.layout = Layout(
            Row(Column("email", css_class="col-md-8")),
            Row(Column("role", css_class="col-md-6")),
            "receives_escalations",
        )


class ClosureForm(forms.Form):
    """Days the clinic is shut: one day, or a range (patients.services.clinic_closure_add
    checks the rest: order, length, overlap, not over already)."""

    first_day = forms.DateField(
        label="First day closed",
        widget=DateInput(),
        validators=[sane_year],
        help_text="Clinic calendar.",
    )
    last_day = forms.DateField(
        label="Last day closed",
        widget=DateInput(),
        validators=[sane_year],
        required=False,
        help_text="Leave empty for a single day.",
    )
    reason = forms.CharField(
        label="Reason",
        max_length=200,
        help_text="Staff see it on the calendar and when booking (e.g. Public holiday).",
        error_messages={"required": "Say why the clinic is closed (staff see it)."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Row(
                Column("first_day", css_class="col-sm-6 col-md-4"),
                Column("last_day", css_class="col-sm-6 col-md-4"),
            ),
            "reason",
        )
