"""The link in an invitation email: sign up (new address) or sign in, then join.

Reached without signing in. The token is signed and bound to one open invitation
(accounts.services.invitation_from_token); anything else is a 404, a closed one a
plain page. For an address without an account (or with one that cannot sign in)
the invitee types their own name and password here; they are then signed in, set
up two-factor sign-in where the invited role requires it, and only then join the
clinic. An address with an account signs in (password and second factor) and
answers on the invitations page, as before.

Joining is a write, so it happens on a POST only (reads never write): the sign-up
POST itself when the role needs no second factor, otherwise the "Join" button the
link shows once the second factor is set up or verified. A GET only shows or
redirects.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts import selectors, services, two_factor
from accounts.forms import InvitationSignUpForm

# The invitation whose sign-up this session just completed: only it is accepted
# without the invitations page (the sign-up itself was the answer).
SIGN_UP_SESSION_KEY = "pumptrack_invitation_sign_up"
_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _closed(request, invitation, *, other_account=False, status=410) -> HttpResponse:
    return render(
        request,
        "accounts/invitation_closed.html",
        {"invitation": invitation, "other_account": other_account},
        status=status,
    )


def _redirect_with_next(name: str, next_url: str) -> HttpResponse:
    return redirect(f"{reverse(name)}?{urlencode({'next': next_url})}")


def _needs_second_factor_first(user, invitation) -> bool:
    # The sign-up POST has just signed the user in: OTPMiddleware has not wrapped that user
    # object (no is_verified), and a fresh sign-in is never verified.
    is_verified = getattr(user, "is_verified", None)
    if is_verified is not None and is_verified():
        return False
    return two_factor.has_confirmed_device(user) or two_factor.role_requires_two_factor(
        invitation.role
    )


def _second_factor_first(request: HttpRequest, invitation) -> HttpResponse | None:
    """Where a just-signed-up invitee must go before joining, or None when they may join."""
    user = request.user
    if not _needs_second_factor_first(user, invitation):
        return None
    if two_factor.has_confirmed_device(user):
        return _redirect_with_next("accounts:otp_verify", request.path)
    messages.info(
        request,
        f"As {invitation.get_role_display()} you sign in with a second factor: set up "
        f"your authenticator app, then you join {invitation.clinic}.",
    )
    return _redirect_with_next("accounts:otp_setup", request.path)


def _finish_sign_up(request: HttpRequest, invitation) -> HttpResponse:
    """Join the clinic (POST only: it creates the membership)."""
    detour = _second_factor_first(request, invitation)
    if detour is not None:
        return detour
    try:
        services.invitation_accept(invitation=invitation, user=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("accounts:invitations")
    request.session.pop(SIGN_UP_SESSION_KEY, None)
    messages.success(request, f"You joined {invitation.clinic}.")
    return redirect("/")


def _join_page(request: HttpRequest, invitation) -> HttpResponse:
    """The GET after the second factor: shows the "Join" button whose POST accepts."""
    detour = _second_factor_first(request, invitation)
    if detour is not None:
        return detour
    return render(request, "accounts/invitation_join.html", {"invitation": invitation})


@require_http_methods(["GET", "POST"])
def invitation_link(request: HttpRequest, token: str) -> HttpResponse:
    invitation = services.invitation_from_token(token)
    if invitation is None:
        raise Http404("No such invitation")
    if not invitation.is_open(timezone.now()):
        return _closed(request, invitation)
    user = request.user
    if user.is_authenticated:
        if (user.email or "").lower() != invitation.email.lower():
            return _closed(request, invitation, other_account=True, status=403)
        if request.session.get(SIGN_UP_SESSION_KEY) == invitation.pk:
            if request.method == "POST":
                return _finish_sign_up(request, invitation)
            return _join_page(request, invitation)
        return redirect("accounts:invitations")
    if not selectors.invitation_needs_sign_up(invitation):
        return _redirect_with_next("accounts:login", reverse("accounts:invitations"))
    form = InvitationSignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            new_user = services.invitation_sign_up(
                invitation=invitation,
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                password=form.cleaned_data["password"],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc.messages)
        else:
            auth_login(request, new_user, backend=_MODEL_BACKEND)
            # The link came to this address: the mailbox is proven, no emailed code needed.
            two_factor.remember_owner_proven(request, new_user)
            request.session[SIGN_UP_SESSION_KEY] = invitation.pk
            messages.info(
                request, f"Your user name is {new_user.get_username()}: you sign in with it."
            )
            # Creating the account was the answer: a role without a second factor joins in
            # this POST; otherwise the link's GET sends them to the second factor first,
            # then shows the "Join" button.
            if not _needs_second_factor_first(new_user, invitation):
                return _finish_sign_up(request, invitation)
            return redirect(request.path)
    return render(
        request,
        "accounts/invitation_sign_up.html",
        {
            "form": form,
            "invitation": invitation,
            "two_factor": two_factor.role_requires_two_factor(invitation.role),
        },
    )
