"""The staff alert inbox: acknowledge, assign and resolve."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.access import allowed_actions
from accounts.decorators import rows, staff_view
from reminders.alerts import alert_acknowledge as acknowledge
from reminders.alerts import alert_assign as assign
from reminders.alerts import alert_resolve as resolve
from reminders.selectors import ALERTS_FOR_PAGES
from reminders.selectors import alert_inbox as alert_groups

from .. import forms
from ..selectors.clinics import members_for_assignment, user_clinics
from ..selectors.open_items import why_tier_stays

logger = logging.getLogger(__name__)


@staff_view(scope=None)
def alert_inbox(request):
    show = "resolved" if request.GET.get("show") == "resolved" else "open"
    groups = alert_groups(request.user, show=show)
    clinics = user_clinics(request.user)
    acting = {c.pk for c in clinics if "act_on_alerts" in allowed_actions(request.user, c)}
    assignees = {c.pk: list(members_for_assignment(c)) for c in clinics if c.pk in acting}
    return render(
        request,
        "dashboard/alerts.html",
        {
            "groups": groups,
            "show": show,
            "total": sum(len(g.alerts) for g in groups),
            "acting_clinics": acting,
            "assignees": assignees,
        },
    )


# An alert named by the URL, through the access gate (another clinic's: 404).
ALERTS = rows(ALERTS_FOR_PAGES, "clinic", id_kwarg="alert_id")


def _back_to_inbox(request):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("dashboard:alerts")


@require_POST
@staff_view("act_on_alerts", scope=ALERTS)
def alert_acknowledge(request, alert, allowed):
    try:
        acknowledge(alert=alert, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        logger.info("alert %s acknowledged by user %s", alert.pk, request.user.pk)
        messages.success(request, "Alert acknowledged. Resolve it once the patient is safe.")
    return _back_to_inbox(request)


@require_POST
@staff_view("act_on_alerts", scope=ALERTS)
def alert_assign(request, alert, allowed):
    clinic = alert.clinic
    form = forms.AssignForm(request.POST, assignees=members_for_assignment(clinic))
    if not form.is_valid():
        messages.error(request, "Choose who to assign the alert to.")
        return _back_to_inbox(request)
    try:
        assign(alert=alert, by=request.user, assignee=form.cleaned_data["assignee"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        logger.info(
            "alert %s assigned to user %s by user %s",
            alert.pk,
            form.cleaned_data["assignee"].pk,
            request.user.pk,
        )
        assignee = form.cleaned_data["assignee"]
        messages.success(
            request, f"Alert assigned to {assignee.get_full_name() or assignee.username}."
        )
    return _back_to_inbox(request)


@require_POST
@staff_view("act_on_alerts", scope=ALERTS)
def alert_resolve(request, alert, allowed):
    form = forms.ResolveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write a resolution note: what was done for the patient.")
        return _back_to_inbox(request)
    try:
        resolve(alert=alert, by=request.user, note=form.cleaned_data["note"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        logger.info("alert %s resolved by user %s", alert.pk, request.user.pk)
        messages.success(request, "Alert resolved.")
        # Another open item may hold the tier: say which, so nobody thinks it is over.
        stays = why_tier_stays(alert.patient)
        if stays:
            messages.warning(request, stays)
    return _back_to_inbox(request)
