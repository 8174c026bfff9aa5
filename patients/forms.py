"""Form fields shared by the operators' admin and the clinic managers' settings page."""

from __future__ import annotations

from django import forms

from patients.models import WEEKDAY_CHOICES


def working_days_field() -> forms.MultipleChoiceField:
    """Working days as seven tick boxes; stored as weekday digits ("01234" = Mon–Fri)."""
    return forms.MultipleChoiceField(
        label="Working weekdays",
        choices=WEEKDAY_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text="Days the clinic sees patients. The proposed refill appointment is the "
        "refill-by date, or the last working day before it.",
        error_messages={"required": "Choose at least one working day."},
    )
