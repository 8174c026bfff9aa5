"""Alarms, symptoms and other reports about a pump, and their resolution."""

from __future__ import annotations

import datetime as dt

from crispy_forms.layout import Column, Row
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from pumptrack.limits import free_text_field
from refills.models import ReportKind
from refills.services.reports import CRITICAL_OUTCOMES

from ..forms.fields import DATETIME_LOCAL, DateTimeLocalInput
from .common import (
    EARLIEST_REPORT,
    REPORT_CLOCK_SLACK,
    form_helper,
)


class PumpReportForm(forms.Form):
    kind = forms.ChoiceField(
        label="What was reported",
        choices=[("", "Choose…"), *ReportKind.choices],
        help_text="A critical alarm or withdrawal symptoms make the patient CRITICAL until "
        "the report is resolved.",
    )
    reported_at = forms.DateTimeField(
        label="When",
        widget=DateTimeLocalInput(),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        help_text="Clinic time: when the alarm was heard or the symptoms began.",
    )
    details = free_text_field(
        label="Details",
        rows=3,
        help_text="Who called, what they heard or noticed, what they were told to do.",
    )

    def __init__(self, *args, now: dt.datetime, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now
        self.helper = form_helper(
            Row(
                Column("kind", css_class="col-md-7"),
                Column("reported_at", css_class="col-md-5"),
            ),
            "details",
        )

    def clean_reported_at(self):
        when = self.cleaned_data["reported_at"]
        earliest = timezone.make_aware(EARLIEST_REPORT, timezone.get_current_timezone())
        if when < earliest:
            raise ValidationError("Check the date: that is too far back.")
        if when > self.now + REPORT_CLOCK_SLACK:
            raise ValidationError("The report cannot be in the future.")
        return when


def report_initial(*, now: dt.datetime) -> dict:
    local = timezone.localtime(now)
    return {"reported_at": local.replace(second=0, microsecond=0, tzinfo=None)}


class ReportResolveForm(forms.Form):
    outcome = forms.ChoiceField(
        label="Outcome",
        required=False,
        choices=[("", "—")] + [(key, label) for key, (label, _) in CRITICAL_OUTCOMES.items()],
        help_text='Needed for a critical alarm. "Pump interrogated" and "Physician '
        'reviewed" need a physician: they do not fix the cause themselves.',
    )
    resolution = free_text_field(
        label="Resolution note",
        rows=3,
        required=True,
        help_text="What was done: pump interrogated, refilled, patient seen in the emergency "
        "department…",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = form_helper()
