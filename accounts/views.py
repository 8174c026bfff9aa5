"""Sign-in steps after the password, and the user's own authenticator devices."""

from __future__ import annotations

import datetime as dt
import math
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import devices, enrolment, selectors, services, two_factor
from accounts.forms import DeviceAddForm, EnrolmentCodeForm, PasswordAgainForm, TokenForm


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return "/"


def _to_verify(request: HttpRequest) -> HttpResponse:
    query = urlencode({"next": _next_url(request)})
    return redirect(f"{reverse('accounts:otp_verify')}?{query}")


def retry_text(retry_at: dt.datetime | None, user) -> str:
    """When the next code may be tried, in seconds if soon, else in the user's clinic zone."""
    if retry_at is None:
        return "You can try again now."
    seconds = max(1, math.ceil((retry_at - timezone.now()).total_seconds()))
    if seconds <= 120:
        return f"You can try again in {seconds} second{'s' if seconds != 1 else ''}."
    local = timezone.localtime(retry_at, two_factor.user_zone(user))
    return f"You can try again at {local:%H:%M:%S} ({local.tzname()})."


@login_required
def otp_verify(request: HttpRequest) -> HttpResponse:
    if not two_factor.has_confirmed_device(request.user):
        query = urlencode({"next": _next_url(request)})
        return redirect(f"{reverse('accounts:otp_setup')}?{query}")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = devices.device_check_code(user=request.user, token=form.cleaned_data["token"])
        if result.device is not None:
            otp_login(request, result.device)
            return redirect(_next_url(request))
        if result.checked:
            form.add_error(
                "token",
                "That code did not match. Check the time on your phone. "
                + retry_text(result.retry_at, request.user),
            )
        else:
            # The back-off after a wrong code: this code was not even looked at.
            form.add_error(
                "token",
                "Too soon after a wrong code, so this code was not checked. "
                + retry_text(result.retry_at, request.user),
            )
    # Waiting out a back-off the user may not have caused: say what it can mean.
    throttled = devices.device_retry_at(user=request.user) is not None
    return render(
        request,
        "accounts/otp_verify.html",
        {"form": form, "next": _next_url(request), "throttled": throttled},
    )


@login_required
def otp_setup(request: HttpRequest) -> HttpResponse:
    """First enrolment, or (from a verified session, with the password) another device."""
    user = request.user
    adding = two_factor.has_confirmed_device(user)
    if adding and not user.is_verified():
        # A device already guards this account: prove it before anything else.
        return _to_verify(request)
    if not adding and not two_factor.owner_proven(request):
        # A first authenticator: the password alone must not be enough (it would let
        # whoever knows it enrol their phone and lock the owner out), so the mailbox first.
        return _prove_mailbox(request)
    key = two_factor.pending_key(request)
    form = DeviceAddForm(request.POST or None, request=request, needs_password=adding)
    if request.method == "POST" and form.is_valid():
        try:
            device = devices.device_add(
                user=user,
                key=key,
                token=form.cleaned_data["token"],
                name=form.cleaned_data.get("name", ""),
            )
        except devices.DeviceError as exc:
            form.add_error("token", str(exc))
        else:
            two_factor.forget_pending_key(request)
            two_factor.forget_owner_proven(request)
            if adding:
                messages.success(request, f'"{device.name}" was added. We emailed you about it.')
                return redirect("accounts:devices")
            otp_login(request, device)
            messages.success(request, "Two-factor sign-in is on. You will need your app each time.")
            return redirect(_next_url(request))
    preview = two_factor.unsaved_device(user, key)
    return render(
        request,
        "accounts/otp_setup.html",
        {
            "form": form,
            "adding": adding,
            "qr_code": two_factor.qr_code_data_uri(preview),
            "secret": two_factor.secret_for_manual_entry(preview),
            "required": two_factor.two_factor_required(user),
            "next": _next_url(request),
        },
    )


_CHECK_REFUSALS = {
    enrolment.Check.EXPIRED: "That code has expired. Ask for a new one.",
    enrolment.Check.SPENT: "That code no longer works (used, replaced or tried too often). "
    "Ask for a new one.",
}


def _setup_url(request: HttpRequest) -> str:
    return f"{reverse('accounts:otp_setup')}?{urlencode({'next': _next_url(request)})}"


def _send_enrolment_code(request: HttpRequest) -> None:
    code_id, _ = two_factor.enrolment_code_in_session(request)
    try:
        sent = enrolment.enrolment_code_send(
            user=request.user, now=timezone.now(), replaces=code_id
        )
    except enrolment.EnrolmentCodeError as exc:
        messages.error(request, str(exc))
        return
    two_factor.remember_enrolment_code(request, code_id=sent.code_id, nonce=sent.nonce)
    minutes = settings.PUMPTRACK_ENROLMENT_CODE["MINUTES"]
    messages.info(
        request,
        f"We emailed a 6-digit code to {enrolment.masked_address(request.user.email)}. "
        f"It works for {minutes} minutes, in this browser only.",
    )


def _prove_mailbox(request: HttpRequest) -> HttpResponse:
    """Step one of a first enrolment: a code emailed to the account's address.

    POST action=send emails a code (then back here: a GET never sends); POST
    action=check takes the code; once accepted the session may see the secret.
    """
    user = request.user
    action = request.POST.get("action") if request.method == "POST" else None
    form = EnrolmentCodeForm(request.POST if action == "check" else None)
    if action == "send":
        _send_enrolment_code(request)
        return redirect(_setup_url(request))
    if action == "check" and form.is_valid():
        code_id, nonce = two_factor.enrolment_code_in_session(request)
        outcome, left = enrolment.enrolment_code_check(
            user=user,
            code_id=code_id,
            nonce=nonce,
            code=form.cleaned_data["code"],
            now=timezone.now(),
        )
        if outcome is enrolment.Check.ACCEPTED:
            two_factor.remember_owner_proven(request, user)
            return redirect(_setup_url(request))
        form.add_error(
            "code",
            _CHECK_REFUSALS.get(
                outcome,
                f"That code did not match. {left} tr{'y' if left == 1 else 'ies'} left.",
            ),
        )
    code_id, _ = two_factor.enrolment_code_in_session(request)
    return render(
        request,
        "accounts/otp_setup_email.html",
        {
            "form": form,
            "sent": code_id is not None,
            "address": enrolment.masked_address(user.email) if user.email else "",
            "required": two_factor.two_factor_required(user),
            # make run prints emails in its terminal: tell the demo user where to look.
            "console_email": settings.EMAIL_BACKEND.endswith("console.EmailBackend"),
            "next": _next_url(request),
        },
    )


@login_required
def device_list(request: HttpRequest) -> HttpResponse:
    if two_factor.has_confirmed_device(request.user) and not request.user.is_verified():
        return _to_verify(request)
    current = getattr(request.user, "otp_device", None)
    return render(
        request,
        "accounts/devices.html",
        {
            "devices": two_factor.confirmed_devices(request.user),
            "current_id": current.pk if isinstance(current, TOTPDevice) else None,
            "required": two_factor.two_factor_required(request.user),
            "zone": two_factor.user_zone(request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def device_remove(request: HttpRequest, device_id: int) -> HttpResponse:
    user = request.user
    if not two_factor.has_confirmed_device(user):
        raise Http404("No such device")
    if not user.is_verified():
        return _to_verify(request)
    device = next((d for d in two_factor.confirmed_devices(user) if d.pk == device_id), None)
    if device is None:
        raise Http404("No such device")
    form = PasswordAgainForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        try:
            remaining = devices.device_remove(user=user, device_id=device.pk)
        except TOTPDevice.DoesNotExist as exc:
            raise Http404("No such device") from exc
        if remaining == 0:
            # This session was verified with a device of the account moments ago: that
            # is proof enough to enrol the next one without an emailed code.
            two_factor.remember_owner_proven(request, user)
            messages.warning(
                request,
                f'"{device.name}" was removed. You have no authenticator now: '
                + (
                    "you will be asked to set one up before you can go on."
                    if two_factor.two_factor_required(user)
                    else "you will sign in with your password alone."
                ),
            )
            return redirect("accounts:otp_setup" if two_factor.two_factor_required(user) else "/")
        messages.success(request, f'"{device.name}" was removed. We emailed you about it.')
        return redirect("accounts:devices")
    return render(request, "accounts/device_remove.html", {"form": form, "device": device})


def _fully_signed_in_or_redirect(request: HttpRequest) -> HttpResponse | None:
    """Answering an invitation needs the password AND a verified second factor, even
    for a role that signs in with the password alone: joining a clinic is a grant."""
    if request.user.is_verified():
        return None
    if two_factor.has_confirmed_device(request.user):
        return _to_verify(request)
    query = urlencode({"next": request.get_full_path()})
    return redirect(f"{reverse('accounts:otp_setup')}?{query}")


@login_required
def invitations(request: HttpRequest) -> HttpResponse:
    """The clinics that invite this account; accept or decline each."""
    if (response := _fully_signed_in_or_redirect(request)) is not None:
        return response
    return render(
        request,
        "accounts/invitations.html",
        {"invitations": list(selectors.invitations_for(user=request.user, now=timezone.now()))},
    )


@login_required
@require_POST
def invitation_answer(request: HttpRequest, invitation_id: int, answer: str) -> HttpResponse:
    if (response := _fully_signed_in_or_redirect(request)) is not None:
        return response
    invitation = selectors.invitation_for(user=request.user, invitation_id=invitation_id)
    try:
        if answer == "accept":
            services.invitation_accept(invitation=invitation, user=request.user)
            messages.success(request, f"You joined {invitation.clinic}.")
        elif answer == "decline":
            services.invitation_decline(invitation=invitation, user=request.user)
            messages.info(request, f"You declined the invitation from {invitation.clinic}.")
        else:
            raise Http404("No such answer")
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect("accounts:invitations")
