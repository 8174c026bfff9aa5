"""The sign-in page: warn before the last attempt, say plainly when someone signed out.

django-axes locks a username from one address after AXES_FAILURE_LIMIT wrong passwords
for AXES_COOLOFF_TIME; a nurse about to be locked out is told so, with the length of
the lock-out, read from those settings (the page shows it for any username, so it
tells nobody whether an account exists).
"""

from __future__ import annotations

import math

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest


def lockout_minutes(request: HttpRequest | None = None) -> int:
    cool_off = get_cool_off(request)
    return math.ceil(cool_off.total_seconds() / 60) if cool_off else 0


def attempts_left(request: HttpRequest, username: str) -> int:
    """Wrong passwords this username may still try from this address before the lock."""
    failures = AxesProxyHandler.get_failures(request, {"username": username})
    return max(0, settings.AXES_FAILURE_LIMIT - failures)


class SignInView(auth_views.LoginView):
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = context.get("form")
        if self.request.method == "POST" and form is not None and form.errors:
            username = self.request.POST.get("username", "")
            context["attempts_left"] = attempts_left(self.request, username)
        context["lockout_minutes"] = lockout_minutes(self.request)
        context["signed_out"] = self.request.GET.get("signed_out") == "1"
        return context
