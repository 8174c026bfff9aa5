"""Booking, moving and cancelling appointments (dates and times in the clinic's zone)."""

from __future__ import annotations

import datetime as dt

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms

from refills.models import AppointmentKind

from .fields import DateInput, TimeInput, sane_year, text_field

APPOINTMENT_FIELD_MAP = {"scheduled_start": "day"}
BOOKING_OVERRIDE_HELP = (
    "A refill after the refill-by date needs a physician's override and reason; "
    "when it has passed, the soonest visit (today or the next working day) needs none."
)


def booking_override_field() -> forms.CharField:
    return text_field("Override reason", help_text=BOOKING_OVERRIDE_HELP)


class WhenMixin:
    """A date and a time in the clinic's zone (`zone=` on construction), combined into an
    aware instant; crispy renders the fields inside the page's own <form>."""

    zone: dt.tzinfo

    def __init__(self, *args, zone: dt.tzinfo, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone
        self.helper = FormHelper()
        self.helper.form_tag = False

    def scheduled_start(self) -> dt.datetime:
        day = self.cleaned_data["day"]
        at = self.cleaned_data["time"]
        return dt.datetime.combine(day, at, tzinfo=self.zone)


class AppointmentForm(WhenMixin, forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=AppointmentKind.choices)
    day = forms.DateField(
        label="Date", widget=DateInput(), help_text="Clinic time.", validators=[sane_year]
    )
    time = forms.TimeField(label="Time", widget=TimeInput(), input_formats=["%H:%M", "%H:%M:%S"])
    duration_minutes = forms.IntegerField(
        label="Duration (minutes)", min_value=5, max_value=480, initial=30
    )
    notes = text_field("Notes")
    override_reason = booking_override_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper.layout = Layout(
            Row(
                Column("kind", css_class="col-md-3"),
                Column("day", css_class="col-md-3"),
                Column("time", css_class="col-md-3"),
                Column("duration_minutes", css_class="col-md-3"),
            ),
            "notes",
            "override_reason",
        )


class RescheduleForm(WhenMixin, forms.Form):
    day = forms.DateField(
        label="New date", widget=DateInput(), help_text="Clinic time.", validators=[sane_year]
    )
    time = forms.TimeField(
        label="New time", widget=TimeInput(), input_formats=["%H:%M", "%H:%M:%S"]
    )
    override_reason = booking_override_field()


class CancelForm(forms.Form):
    reason = text_field("Reason for cancelling", required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
