"""Staff pages for messages: the clinic-wide outbox and the managers' message templates.

Every row is reached through accounts.access: notifications are scoped to the
user's clinics, a clinic the user does not belong to is a 404, and editing a
template needs the "edit_templates" permission (managers), else 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import clinics_where
from accounts.decorators import CLINIC, WHERE_ALLOWED, staff_view
from reminders import selectors
from reminders.forms import MessageFilterForm, TemplateForm
from reminders.messages import (
    ALLOWED_PLACEHOLDERS,
    DEFAULTS,
    REQUIRED_PLACEHOLDERS,
    REQUIRED_WORDS,
    template_for,
)
from reminders.messages import render as render_text
from reminders.models import AlertSeverity, MessageTemplate, TemplateKind
from reminders.services import message_template_reset, message_template_save

PAGE_SIZE = 50

# Invented values for the preview: no real person's data is ever rendered here.
SAMPLE_CONTEXT = {
    "first_name": "Alex",
    "clinic_name": "Example Pump Clinic",
    "clinic_phone": "+1 555-010-0000",
    "clinic_after_hours_phone": "+1 555-010-0199",
    "whose": "your",
    "whom": "you",
    "when": "Tue 14 Oct 2025 at 9:30 AM EDT",
    "date": "Tue 14 Oct 2025",
    "time": "9:30 AM EDT",
    "days_ahead": "in 7 days",
    "refill_by": "Fri 24 Oct 2025",
    "alert_id": "123",
    "alert_kind": "Reservoir running out",
    "severity": AlertSeverity.HIGH.label,
    "alert_url": "https://pumptrack.example/alerts/",
    "escalation_number": "2",
    "raised_at": "Tue 14 Oct 2025, 08:10",
    "last_sweep_at": "Tue 14 Oct 2025, 07:40",
    "resumed_at": "Tue 14 Oct 2025, 08:05",
    "stale_minutes": "25",
}

# Only a manager of the clinic edits its templates (403 for any other role).
TEMPLATE_REFUSAL = "Only a manager of {clinic} can edit its message templates."


@staff_view(scope=None)
def message_list(request):
    form = MessageFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    rows = selectors.outbox(
        request.user,
        status=data.get("status"),
        channel=data.get("channel"),
        kind=data.get("kind"),
        problems=bool(data.get("problems")),
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "reminders/messages.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "filtered": any(data.values()),
            "can_edit_templates": clinics_where(request.user, "edit_templates").exists(),
        },
    )


# --------------------------------------------------------------------------- templates


def _kind_and_channel(kind: str, channel: str) -> tuple[str, str]:
    if (kind, channel) not in DEFAULTS:
        raise Http404("No such message template")
    return kind, channel


@staff_view(
    "edit_templates",
    scope=WHERE_ALLOWED,
    refusal="Only clinic managers can edit message templates.",
)
def template_list(request, clinics):
    overrides = selectors.template_overrides(clinics=clinics)
    labels = dict(TemplateKind.choices)
    sections = [
        {
            "clinic": clinic,
            "rows": [
                {
                    "kind": kind,
                    "kind_label": labels.get(kind, kind),
                    "channel": channel,
                    "override": overrides.get((clinic.pk, kind, channel)),
                }
                for kind, channel in DEFAULTS
            ],
        }
        for clinic in clinics
    ]
    return render(request, "reminders/templates.html", {"sections": sections})


@staff_view("edit_templates", scope=CLINIC, refusal=TEMPLATE_REFUSAL)
def template_edit(request, clinic, allowed, kind: str, channel: str):
    kind, channel = _kind_and_channel(kind, channel)
    override = selectors.template_override(clinic=clinic, kind=kind, channel=channel)
    default = template_for(clinic_id=None, kind=kind, channel=channel)
    current = override or default
    preview = None
    if request.method == "POST":
        form = TemplateForm(request.POST, kind=kind, channel=channel)
        if form.is_valid():
            subject = form.cleaned_data.get("subject", "")
            body = form.cleaned_data["body"]
            if request.POST.get("action") == "preview":
                preview = {
                    "subject": render_text(subject, SAMPLE_CONTEXT),
                    "body": render_text(body, SAMPLE_CONTEXT),
                }
            else:
                template = override or MessageTemplate(clinic=clinic, kind=kind, channel=channel)
                template.subject = subject
                template.body = body
                try:
                    message_template_save(template=template, by=request.user)
                except ValidationError as exc:
                    for problem in exc.messages:
                        form.add_error(None, problem)
                else:
                    messages.success(
                        request,
                        f"Saved. New {TemplateKind(kind).label.lower()} messages at {clinic} "
                        "use this text.",
                    )
                    return redirect("reminders:templates")
    else:
        form = TemplateForm(
            initial={"subject": current.subject, "body": current.body}, kind=kind, channel=channel
        )
        preview = {
            "subject": render_text(current.subject, SAMPLE_CONTEXT),
            "body": render_text(current.body, SAMPLE_CONTEXT),
        }
    return render(
        request,
        "reminders/template_form.html",
        {
            "clinic": clinic,
            "kind": kind,
            "kind_label": TemplateKind(kind).label,
            "channel": channel,
            "form": form,
            "override": override,
            "default": default,
            "preview": preview,
            "placeholders": sorted(ALLOWED_PLACEHOLDERS.get(kind, ())),
            "required": list(REQUIRED_PLACEHOLDERS.get(kind, ())),
            "required_words": list(REQUIRED_WORDS.get(kind, ())),
        },
    )


@require_POST
@staff_view("edit_templates", scope=CLINIC, refusal=TEMPLATE_REFUSAL)
def template_reset(request, clinic, allowed, kind: str, channel: str):
    kind, channel = _kind_and_channel(kind, channel)
    if message_template_reset(clinic=clinic, kind=kind, channel=channel, by=request.user):
        messages.success(request, f"{clinic} now uses the default text for this message.")
    else:
        messages.info(request, f"{clinic} already uses the default text for this message.")
    return redirect("reminders:templates")
