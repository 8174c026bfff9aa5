"""Booking, moving and cancelling appointments (dates and times in the clinic's zone)."""

from __future__ import annotations

import datetime as dt

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms

from pumptrack.dates import date_text
from refills.models import AppointmentKind

from .fields import DateInput, TimeInput, sane_year, text_field

# The time-of-day findings (outside opening hours) go under Time, the rest under Date.
APPOINTMENT_FIELD_MAP = {"scheduled_start": "day", "scheduled_time": "time"}
BOOKING_OVERRIDE_HELP = (
    "Needed when the page warns: outside opening hours, a closed or non-working day, a "
    "slot already taken or a second refill (anyone who may book can give it). A refill "
    "after the refill-by date needs a physician's override and reason; when it has passed, "
    "the soonest visit (today or the next working day) needs none."
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

    # Set by clean() when the time falls in the hour a clock change repeats.
    ambiguous_note = ""

    def clean(self):
        cleaned = super().clean()
        day, at = cleaned.get("day"), cleaned.get("time")
        if day is None or at is None:
            return cleaned
        naive = dt.datetime.combine(day, at)
        first = naive.replace(tzinfo=self.zone)
        second = naive.replace(tzinfo=self.zone, fold=1)
        if _wall(first) != naive:
            # Skipped when the clocks go forward: never store a shifted time silently.
            self.add_error(
                "time",
                f"{at:%H:%M} does not exist on {date_text(day)} in {self.zone}: the clocks "
                "go forward that night. Choose another time.",
            )
        elif first.utcoffset() != second.utcoffset():
            # Repeated when the clocks go back: the first (earlier) one, and we say so.
            self.ambiguous_note = (
                f" {at:%H:%M} happens twice that night (the clocks go back): this is the "
                f"first one, {first.tzname()} (UTC{_offset(first)})."
            )
        return cleaned

    def scheduled_start(self) -> dt.datetime:
        day = self.cleaned_data["day"]
        at = self.cleaned_data["time"]
        return dt.datetime.combine(day, at, tzinfo=self.zone)


def _wall(local: dt.datetime) -> dt.datetime:
    """The wall-clock time an instant really shows in its zone (naive)."""
    return local.astimezone(dt.UTC).astimezone(local.tzinfo).replace(tzinfo=None)


def _offset(local: dt.datetime) -> str:
    minutes = int(local.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


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
