"""The reports' filter: a period of calendar days and one clinic or all of the user's."""

from __future__ import annotations

import datetime as dt

from django import forms

# A period longer than this is refused: it would read years of a network's history.
MAX_DAYS = 3 * 366


class ReportFilterForm(forms.Form):
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    all_clinics = forms.BooleanField(label="All my clinics", required=False)

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The period must start on or before its last day.")
        if since and until and (until - since).days > MAX_DAYS:
            raise forms.ValidationError("Choose a period of at most three years.")
        return data


def period(form: ReportFilterForm, *, today: dt.date, default_days: int) -> tuple[dt.date, dt.date]:
    """The period asked for, or the last `default_days` up to today (clinic calendar).
    Input that is not valid falls back to the default; the form shows why."""
    data = form.cleaned_data if form.is_valid() else {}
    until = data.get("until") or today
    since = data.get("since") or until - dt.timedelta(days=default_days - 1)
    return since, until
