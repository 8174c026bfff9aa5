"""Acting on a staff alert: give it to a colleague, or resolve it with a note."""

from __future__ import annotations

from django import forms

from .fields import text_field


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label="Assign to", queryset=None)

    def __init__(self, *args, assignees, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees
        self.fields["assignee"].label_from_instance = lambda u: u.get_full_name() or u.username


class ResolveForm(forms.Form):
    note = text_field("Resolution note", required=True, rows=2)
