"""Clinic administration for the clinic's managers: settings, staff, and a link to
the message templates (reminders/pages.py).

Thin like the other dashboard views: the clinic is reached through the access gate
(accounts.access.clinic_for: another clinic's id is a 404), the role through
`@staff_view("manage_clinic", ...)` (any other role: 403), a staff member through
accounts.selectors.clinic_membership (a membership of another clinic: 404). Writes
go through patients.services and accounts.services, which record the acting user
in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from accounts import selectors as staff_selectors
from accounts import services as staff_services
from accounts.decorators import CLINIC, WHERE_ALLOWED, Scope, staff_view
from pumptrack.dates import date_text
from refills import selectors as diary

from . import clinic_admin_forms as forms

logger = logging.getLogger(__name__)

EMAIL_FAILED = "The email could not be sent, so nothing was changed. Try again in a few minutes."


class _Member(Scope):
    """A staff member of the clinic the URL names: the clinic through the access gate
    (another clinic's: 404), the manager's role there (403), then one of its memberships
    (another clinic's: 404)."""

    def resolve(self, request, kwargs, action):
        return CLINIC.resolve(request, kwargs, action)

    def within(self, request, clinic, kwargs):
        membership = staff_selectors.clinic_membership(
            clinic=clinic, membership_id=kwargs.pop("membership_id")
        )
        return clinic, membership


MEMBER = _Member()


class _Closure(Scope):
    """A closure of the clinic the URL names: the clinic through the gate (404), the
    manager's role there (403), then one of its closures (another clinic's: 404)."""

    def resolve(self, request, kwargs, action):
        return CLINIC.resolve(request, kwargs, action)

    def within(self, request, clinic, kwargs):
        closure_id = kwargs.pop("closure_id")
        closure = next(
            (c for c in diary.clinic_closures(clinic=clinic) if c.pk == closure_id), None
        )
        if closure is None:
            raise Http404("No such closure")
        return clinic, closure


CLOSURE = _Closure()
# How far back the closures page lists closures that are over.
CLOSURES_SHOWN_PAST = dt.timedelta(days=90)


def _base_url(request) -> str:
    return request.build_absolute_uri("/")


@staff_view(
    "manage_clinic", scope=WHERE_ALLOWED, refusal="Only clinic managers administer a clinic."
)
def clinic_admin_home(request, clinics):
    if len(clinics) == 1:
        return redirect("dashboard:clinic_settings", clinic_id=clinics[0].pk)
    return render(request, "dashboard/clinic_admin/home.html", {"clinics": clinics})


@staff_view("manage_clinic", scope=CLINIC)
def clinic_settings(request, clinic, allowed):
    initial = forms.initial_settings(clinic)
    if request.method == "POST":
        form = forms.ClinicSettingsForm(request.POST, initial=initial)
        if form.is_valid():
            try:
                staff_services.clinic_settings_update(
                    clinic=clinic, by=request.user, **form.settings_fields()
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                logger.info("clinic %s settings changed by user %s", clinic.pk, request.user.pk)
                messages.success(request, f"{clinic} settings saved.")
                _warn_outside_hours(request, clinic)
                return redirect("dashboard:clinic_settings", clinic_id=clinic.pk)
        messages.error(request, "The settings were not saved: see the messages below.")
    else:
        form = forms.ClinicSettingsForm(initial=initial)
    return render(
        request,
        "dashboard/clinic_admin/settings.html",
        {"clinic": clinic, "form": form, "here": "settings"},
    )


@staff_view("manage_clinic", scope=CLINIC)
def clinic_staff(request, clinic, allowed):
    if request.method == "POST":
        form = forms.InviteForm(request.POST)
        if form.is_valid():
            try:
                result = staff_services.staff_invite(
                    clinic=clinic, by=request.user, base_url=_base_url(request), **form.cleaned_data
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            except OSError:  # smtplib.SMTPException is one; the service saved nothing
                logger.exception("staff invitation email for clinic %s not sent", clinic.pk)
                form.add_error(None, EMAIL_FAILED)
            else:
                # The same words whether or not the address has an account (and whose).
                messages.success(request, f"Invitation sent to {result.email}.")
                return redirect("dashboard:clinic_staff", clinic_id=clinic.pk)
        messages.error(request, "Nobody was invited: see the messages below.")
    else:
        form = forms.InviteForm(initial={"role": "nurse"})
    members = list(staff_selectors.clinic_members(clinic=clinic))
    return render(
        request,
        "dashboard/clinic_admin/staff.html",
        {
            "clinic": clinic,
            "members": members,
            "locked_until": staff_selectors.sign_in_locked_until(
                users=[m.user for m in members], now=timezone.now()
            ),
            "invitations": list(
                staff_selectors.clinic_pending_invitations(clinic=clinic, now=timezone.now())
            ),
            "form": form,
            "here": "staff",
        },
    )


@staff_view("manage_clinic", scope=MEMBER)
def staff_member(request, member, allowed):
    clinic, membership = member
    initial = {"role": membership.role, "receives_escalations": membership.receives_escalations}
    if request.method == "POST":
        form = forms.MembershipForm(request.POST, initial=initial)
        if form.is_valid():
            try:
                staff_services.membership_update(
                    membership=membership, by=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, f"{_name(membership)}: saved.")
                return redirect("dashboard:clinic_staff", clinic_id=clinic.pk)
        messages.error(request, "Nothing was changed: see the messages below.")
    else:
        form = forms.MembershipForm(initial=initial)
    return render(
        request,
        "dashboard/clinic_admin/member.html",
        {
            "clinic": clinic,
            "membership": membership,
            "form": form,
            "is_self": membership.user_id == request.user.pk,
            "locked_until": staff_selectors.sign_in_locked_until(
                users=[membership.user], now=timezone.now()
            ).get(membership.user_id),
            "here": "staff",
        },
    )


def _name(membership) -> str:
    user = membership.user
    return user.get_full_name() or user.get_username()


def _refused(request, clinic, membership, exc: ValidationError):
    for message in exc.messages:
        messages.error(request, message)
    return redirect("dashboard:staff_member", clinic_id=clinic.pk, membership_id=membership.pk)


@require_POST
@staff_view("manage_clinic", scope=MEMBER)
def staff_deactivate(request, member, allowed):
    clinic, membership = member
    try:
        staff_services.membership_deactivate(membership=membership, by=request.user)
    except ValidationError as exc:
        return _refused(request, clinic, membership, exc)
    messages.success(
        request,
        f"{_name(membership)} no longer has access to {clinic}. Their other clinics, if any, "
        "are unchanged.",
    )
    return redirect("dashboard:clinic_staff", clinic_id=clinic.pk)


@require_POST
@staff_view("manage_clinic", scope=MEMBER)
def staff_two_factor_reset(request, member, allowed):
    clinic, membership = member
    try:
        staff_services.staff_two_factor_reset(
            membership=membership, by=request.user, base_url=_base_url(request)
        )
    except ValidationError as exc:
        return _refused(request, clinic, membership, exc)
    except OSError:
        logger.exception("two-factor reset email for membership %s not sent", membership.pk)
        return _refused(request, clinic, membership, ValidationError(EMAIL_FAILED))
    messages.success(
        request,
        f"{_name(membership)}'s two-factor sign-in was reset. Their password no longer works: "
        "they were emailed a link to choose a new one, then set up two-factor sign-in again.",
    )
    return redirect("dashboard:staff_member", clinic_id=clinic.pk, membership_id=membership.pk)


@require_POST
@staff_view("manage_clinic", scope=MEMBER)
def staff_sign_in_unlock(request, member, allowed):
    clinic, membership = member
    try:
        staff_services.staff_sign_in_unlock(membership=membership, by=request.user)
    except (ValidationError, PermissionDenied) as exc:
        return _refused(request, clinic, membership, ValidationError(str(exc)))
    messages.success(
        request,
        f"{_name(membership)}'s sign-in lock-out was lifted: they can sign in again now, "
        "on any computer.",
    )
    return redirect("dashboard:clinic_staff", clinic_id=clinic.pk)


@staff_view("manage_clinic", scope=CLINIC)
def clinic_closures(request, clinic, allowed):
    today = timezone.localdate(timezone=clinic.tz)
    if request.method == "POST":
        form = forms.ClosureForm(request.POST)
        if form.is_valid():
            try:
                closure = staff_services.clinic_closure_add(
                    clinic=clinic, by=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                logger.info(
                    "closure %s added to clinic %s by user %s",
                    closure.pk,
                    clinic.pk,
                    request.user.pk,
                )
                messages.success(request, f"The clinic is closed {closure.days_text}.")
                _warn_booked(request, clinic, closure)
                return redirect("dashboard:clinic_closures", clinic_id=clinic.pk)
        messages.error(request, "The closure was not saved: see the messages below.")
    else:
        form = forms.ClosureForm()
    closures = diary.clinic_closures(clinic=clinic, from_day=today - CLOSURES_SHOWN_PAST)
    return render(
        request,
        "dashboard/clinic_admin/closures.html",
        {
            "clinic": clinic,
            "form": form,
            "closures": closures,
            "today": today,
            "here": "closures",
        },
    )


def _warn_outside_hours(request, clinic) -> None:
    """Visits already booked that the new hours or working days leave out stay booked; the
    manager is told how many, and where to find the first ones."""
    outside = diary.scheduled_outside_hours(clinic=clinic, now=timezone.now())
    if not outside:
        return
    days = sorted({timezone.localtime(a.scheduled_start, clinic.tz).date() for a in outside})
    shown = ", ".join(date_text(day) for day in days[:5]) + (" …" if len(days) > 5 else "")
    link = reverse("dashboard:calendar") + f"?clinic={clinic.pk}&day={days[0].isoformat()}"
    messages.warning(
        request,
        format_html(
            "{} already booked outside the clinic's new hours or working days ({}). They "
            'stay booked: <a href="{}">see them on the calendar</a> and move them.',
            _appointments(len(outside)),
            shown,
            link,
        ),
    )


def _appointments(count: int) -> str:
    return "1 appointment is" if count == 1 else f"{count} appointments are"


def _warn_booked(request, clinic, closure) -> None:
    """Appointments already booked on the days now closed are not moved silently: the
    manager is told, and the calendar shows them on the closed days."""
    booked = diary.scheduled_on_days(
        clinic=clinic, first_day=closure.first_day, last_day=closure.last_day
    )
    if booked:
        messages.warning(
            request,
            f"{_appointments(booked)} booked on these days. They stay booked: ask a "
            "scheduler to move them (the calendar shows them on the closed days).",
        )


@require_POST
@staff_view("manage_clinic", scope=CLOSURE)
def clinic_closure_remove(request, found, allowed):
    clinic, closure = found
    try:
        staff_services.clinic_closure_remove(closure=closure, by=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        logger.info("closure %s removed by user %s", closure.pk, request.user.pk)
        messages.success(request, f"The closure {closure.days_text} was removed.")
    return redirect("dashboard:clinic_closures", clinic_id=clinic.pk)
