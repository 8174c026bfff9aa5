"""The one access decorator for staff pages: `@staff_view(action, scope=...)`.

In this order, as every staff page did by hand before:

1. signed in (else the sign-in page, like `login_required`);
2. sign-in complete: the second factor passed where the account needs one (else the
   verify or set-up page; TwoFactorMiddleware sends such sessions there first, this
   is the same rule kept next to the check it protects);
3. the row the URL names, reached through accounts.access: another clinic's row is a
   404, indistinguishable from a missing one;
4. the role at that row's clinic allows `action` (else 403);
5. the view runs in the clinic's time zone.

The view receives the row and the frozenset of actions the user may take at its
clinic: `view(request, row, allowed, *args, **kwargs)`. With `scope=None` only steps 1
and 2 apply and the view is called as is; with `scope=WHERE_ALLOWED` the view receives
the list of the user's clinics where `action` is allowed (403 when there is none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from accounts import two_factor
from accounts.access import (
    allowed_actions,
    can,
    clinic_for,
    clinics_for,
    clinics_where,
    get_scoped,
    patient_for,
)
from accounts.models import User
from patients.models import Clinic

# The 403 message when a view gives none; {clinic} is the row's clinic.
ROLE_REFUSAL = "Your role at {clinic} does not allow this."


def require(user: User, action: str, clinic: Clinic, refusal: str = ROLE_REFUSAL):
    """The user's allowed actions at the clinic; PermissionDenied (403) without `action`."""
    allowed = allowed_actions(user, clinic)
    if action not in allowed:
        raise PermissionDenied(refusal.format(clinic=clinic))
    return allowed


# --------------------------------------------------------------------------- scopes


class Scope:
    """Where a view's row comes from: `resolve` pops the URL's id and returns the row and
    its clinic, raising Http404 for a row of another clinic."""

    def resolve(self, request: HttpRequest, kwargs: dict, action: str) -> tuple[object, Clinic]:
        raise NotImplementedError

    def within(self, request: HttpRequest, row, kwargs: dict):
        """A row inside the first one, fetched only once the role is allowed (so a role
        without the permission gets its 403 before any 404 of the inner row)."""
        return row


@dataclass(frozen=True)
class Rows(Scope):
    """A row of `queryset` named by the URL's `id_kwarg`, scoped by `clinic_path`
    (e.g. "patient__clinic")."""

    queryset: QuerySet
    clinic_path: str
    id_kwarg: str

    def resolve(self, request, kwargs, action):
        raw_id = kwargs.pop(self.id_kwarg)
        row = get_scoped(request.user, self.queryset.all(), self.clinic_path, raw_id)
        clinic = row
        for part in self.clinic_path.split("__"):
            clinic = getattr(clinic, part)
        return row, clinic


@dataclass(frozen=True)
class Fetch(Scope):
    """A row fetched by an accounts.access gate such as patient_for or clinic_for."""

    fetch: Callable[[User, object], Model]
    clinic_of: Callable[[Model], Clinic]
    id_kwarg: str

    def resolve(self, request, kwargs, action):
        row = self.fetch(request.user, kwargs.pop(self.id_kwarg))
        return row, self.clinic_of(row)


class _ClinicFromQuery(Scope):
    """The clinic asked for with ?clinic=id, else the user's first clinic (by name) where
    the role allows the action: a physician here who is a nurse at a clinic earlier in
    the alphabet must not be refused their own reports. Another clinic's id is a 404."""

    def resolve(self, request, kwargs, action):
        clinics = clinics_for(request.user).order_by("name")
        wanted = request.GET.get("clinic")
        if wanted:
            # Ids beyond 64 bits cannot exist; refuse them before the database overflows.
            # isascii: "²" and "١" pass isdigit(); the length check keeps int() from
            # refusing a 5,000-digit string (Python's int-conversion limit) with a 500.
            valid = (
                wanted.isascii() and wanted.isdigit() and len(wanted) < 20 and int(wanted) < 2**63
            )
            clinic = clinics.filter(pk=int(wanted)).first() if valid else None
        else:
            clinic = next((c for c in clinics if can(request.user, action, c)), clinics.first())
        if clinic is None:
            raise Http404("No such clinic")
        return clinic, clinic


def rows(queryset: QuerySet, clinic_path: str, *, id_kwarg: str) -> Rows:
    return Rows(queryset=queryset, clinic_path=clinic_path, id_kwarg=id_kwarg)


PATIENT = Fetch(fetch=patient_for, clinic_of=lambda patient: patient.clinic, id_kwarg="patient_id")
CLINIC = Fetch(fetch=clinic_for, clinic_of=lambda clinic: clinic, id_kwarg="clinic_id")
CLINIC_FROM_QUERY = _ClinicFromQuery()
# Not a row: every clinic of the user where the action is allowed (a page that lists them).
WHERE_ALLOWED = object()


# --------------------------------------------------------------------------- the decorator


def second_factor_redirect(request: HttpRequest) -> HttpResponse:
    """The verify page (a confirmed device) or the set-up page, coming back here after."""
    target = (
        "accounts:otp_verify"
        if two_factor.has_confirmed_device(request.user)
        else "accounts:otp_setup"
    )
    return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


def staff_view(
    action: str | None = "view_clinical",
    *,
    scope: Scope | object | None = PATIENT,
    refusal: str = ROLE_REFUSAL,
):
    """Login, sign-in complete, the scoped row (404), the role (403), clinic time."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not two_factor.sign_in_complete(request):
                return second_factor_redirect(request)
            if scope is None:
                return view(request, *args, **kwargs)
            if scope is WHERE_ALLOWED:
                clinics = list(clinics_where(request.user, action))
                if not clinics:
                    raise PermissionDenied(refusal)
                return view(request, clinics, *args, **kwargs)
            row, clinic = scope.resolve(request, kwargs, action)
            allowed = require(request.user, action, clinic, refusal)
            row = scope.within(request, row, kwargs)
            with timezone.override(clinic.tz):
                return view(request, row, allowed, *args, **kwargs)

        return wrapper

    return decorator
