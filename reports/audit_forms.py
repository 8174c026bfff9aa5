"""The audit trail's filter (GET): dates in the clinic's calendar, patient, user, kind."""

from __future__ import annotations

from django import forms

from reports.filters import check_day_bounds

ANY = ""
SYSTEM = "0"  # changes made by the application itself (the sweep, the demo loader)


class AuditFilterForm(forms.Form):
    since = forms.DateField(
        label="From",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = forms.DateField(
        label="To (inclusive)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    mrn = forms.CharField(label="Patient MRN", required=False, max_length=40, strip=True)
    # A patient's id, from the "only this patient" links of the page.
    patient = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )
    user = forms.ChoiceField(
        label="Changed by",
        required=False,
        error_messages={
            "invalid_choice": "Choose someone from the list: this user has never been a "
            "member of this clinic."
        },
    )
    kind = forms.ChoiceField(
        label="Record",
        required=False,
        error_messages={
            "invalid_choice": "Choose a kind of record from the list: the audit trail "
            "has no such kind."
        },
    )

    def __init__(self, data, *, users: list[tuple[int, str]], kinds: list[tuple[str, str]]):
        super().__init__(data)
        self.fields["user"].choices = [
            (ANY, "Anyone"),
            (SYSTEM, "The system (no user)"),
            *((str(pk), name) for pk, name in users),
        ]
        self.fields["kind"].choices = [(ANY, "Every kind"), *kinds]

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        check_day_bounds(self, data, ("since", "until"))
        if since and until and until < since:
            self.add_error("until", "The end date is before the start date.")
        return data
