"""The reports' filter: a period of calendar days and one clinic or all of the user's."""

from __future__ import annotations

import datetime as dt

from django import forms

# A period longer than this is refused: it would read years of a network's history.
MAX_DAYS = 3 * 366

# Every date filter of the reports (the reports' period, the audit trail, the advisory
# lookup) takes days in these bounds: a day near date.max would overflow the "day after"
# the period's end, and nobody means a day before 1900 or after 9000.
EARLIEST_DAY = dt.date(1900, 1, 1)
LATEST_DAY = dt.date(9000, 1, 1)
OUT_OF_BOUNDS = "Enter a date between 1900 and 9000."


def check_day_bounds(form: forms.Form, data: dict, names: tuple[str, ...]) -> bool:
    """Adds OUT_OF_BOUNDS to each field of `names` whose day is outside the bounds (and
    drops it from `data`); True when every one was inside."""
    inside = True
    for name in names:
        day = data.get(name)
        if day is not None and not (EARLIEST_DAY <= day <= LATEST_DAY):
            form.add_error(name, OUT_OF_BOUNDS)
            inside = False
    return inside


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
        if not check_day_bounds(self, data, ("since", "until")):
            return data
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


def refused_period_note(form: ReportFilterForm) -> str:
    """Why the period asked for was not used, for the CSV and the PDF (the page shows the
    form's errors beside the fields)."""
    reasons = [str(e) for e in form.non_field_errors()]
    for name in ("since", "until", "all_clinics"):
        reasons += [f"{form.fields[name].label}: {e}" for e in form.errors.get(name, [])]
    return "The period asked for was not used (" + " ".join(reasons) + "); the default is shown."
