"""Send signed-in users through two-factor verification before anything else."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts import two_factor

# Paths a half-signed-in user may still reach.
_OPEN_PREFIXES = ("/static/", "/healthz", "/webhooks/")


class TwoFactorMiddleware:
    """A session that has passed only the password step reaches one page.

    With a confirmed device: the verify page (set-up is NOT open: otherwise a
    stolen password could enrol a second authenticator and skip the first).
    Without one, when the user's role requires two-factor: the set-up page.
    Sign-out and the open prefixes stay reachable for both.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_verified():
            return self.get_response(request)
        if request.path == reverse("accounts:logout") or request.path.startswith(_OPEN_PREFIXES):
            return self.get_response(request)
        if two_factor.has_confirmed_device(user):
            target = "accounts:otp_verify"
        elif two_factor.two_factor_required(user):
            target = "accounts:otp_setup"
        else:
            return self.get_response(request)  # password alone is this user's sign-in
        if request.path == reverse(target):
            return self.get_response(request)
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
