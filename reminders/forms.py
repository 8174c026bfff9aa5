"""Forms for the staff message pages: the outbox filters and a clinic's message template."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms

from patients.models import Channel
from pumptrack.limits import free_text_field
from reminders.messages import template_problems
from reminders.models import NotificationKind, NotificationStatus


class MessageFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *NotificationStatus.choices]
    )
    channel = forms.ChoiceField(
        label="Channel", required=False, choices=[("", "Any channel"), *Channel.choices]
    )
    kind = forms.ChoiceField(
        label="Message", required=False, choices=[("", "Any message"), *NotificationKind.choices]
    )
    problems = forms.BooleanField(
        label="Problems only (failed, not sent, possible duplicates)", required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Row(
                Column("status", css_class="col-6 col-md-3"),
                Column("channel", css_class="col-6 col-md-3"),
                Column("kind", css_class="col-6 col-md-3"),
                Column("problems", css_class="col-6 col-md-3 align-self-end"),
            )
        )


class TemplateForm(forms.Form):
    """One clinic's text for one kind on one channel, checked by reminders.messages."""

    subject = forms.CharField(label="Email subject", max_length=200, required=False)
    body = free_text_field(label="Message text", rows=8)

    def __init__(self, *args, kind: str, channel: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.channel = channel
        if channel != Channel.EMAIL:
            del self.fields["subject"]
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean(self):
        data = super().clean()
        if "body" not in data or (self.channel == Channel.EMAIL and "subject" not in data):
            # The field's own error (too long, say) is shown already; checking the text that
            # did not arrive would add a wrong "The message needs a text."
            return data
        for problem in template_problems(
            kind=self.kind,
            channel=self.channel,
            subject=data.get("subject", "") or "",
            body=data.get("body", "") or "",
        ):
            self.add_error("body", problem)
        return data
