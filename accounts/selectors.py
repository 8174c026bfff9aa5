"""Reads for clinic administration: a clinic's staff, one membership and pending
invitations, scoped by clinic; and the invitations addressed to a signed-in user."""

from __future__ import annotations

import datetime as dt

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Exists, Max, OuterRef, QuerySet
from django.http import Http404
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Membership, StaffInvitation, User


def clinic_members(*, clinic) -> QuerySet[Membership]:
    """The clinic's memberships with their users and whether each has a confirmed
    authenticator (`has_two_factor`), sorted by name (one query)."""
    return (
        Membership.objects.filter(clinic=clinic)
        .select_related("user")
        .annotate(
            has_two_factor=Exists(
                TOTPDevice.objects.filter(user_id=OuterRef("user_id"), confirmed=True)
            )
        )
        .order_by("user__last_name", "user__first_name", "user__username")
    )


def clinic_membership(*, clinic, membership_id) -> Membership:
    """A membership of this clinic; another clinic's id is a 404 like a missing one."""
    try:
        return clinic_members(clinic=clinic).get(pk=membership_id)
    except (Membership.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such staff member") from exc


def sign_in_locked_until(*, users, now: dt.datetime) -> dict[int, dt.datetime]:
    """When each of these users' active sign-in lock-out (django-axes) lifts, by user id;
    a user without one is absent. Axes locks a username per address for the cool-off
    after its last failure, so the latest locked attempt's time plus the cool-off is
    when the last of their locks lifts (a lock on any computer counts: the manager
    cannot tell which one the member is at)."""
    cool_off = get_cool_off()
    if not cool_off:
        return {}
    by_username = {user.get_username(): user.pk for user in users}
    latest = (
        AccessAttempt.objects.filter(
            username__in=list(by_username),
            failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
            attempt_time__gt=now - cool_off,
        )
        .values("username")
        .annotate(last=Max("attempt_time"))
    )
    return {by_username[row["username"]]: row["last"] + cool_off for row in latest}


def _open(queryset: QuerySet[StaffInvitation], now) -> QuerySet[StaffInvitation]:
    return queryset.filter(
        accepted_at=None, declined_at=None, withdrawn_at=None, expires_at__gt=now
    )


def clinic_pending_invitations(*, clinic, now) -> QuerySet[StaffInvitation]:
    """Open invitations of this clinic, to any address. Shown by email, role, sent and
    expiry only, alike whether an account has the address: the account behind it is
    not the clinic's until its owner accepts."""
    return _open(StaffInvitation.objects.filter(clinic=clinic), now).order_by("email")


def invitations_for(*, user, now) -> QuerySet[StaffInvitation]:
    """Open invitations addressed to the user's email address."""
    if not user.email:
        return StaffInvitation.objects.none()
    return (
        _open(StaffInvitation.objects.filter(email__iexact=user.email), now)
        .select_related("clinic", "invited_by")
        .order_by("created_at")
    )


def invitation_for(*, user, invitation_id) -> StaffInvitation:
    """An invitation addressed to this user (open or not); anyone else's is a 404."""
    if not user.email:
        raise Http404("No such invitation")
    try:
        return StaffInvitation.objects.select_related("clinic").get(
            pk=invitation_id, email__iexact=user.email
        )
    except (StaffInvitation.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such invitation") from exc


def invitation_needs_sign_up(invitation: StaffInvitation) -> bool:
    """Whether the invitation's link opens the sign-up page: no account has the address,
    or the one that has it cannot sign in (accounts.services.account_needs_sign_up)."""
    from accounts.services import account_needs_sign_up

    accounts = list(User.objects.filter(email__iexact=invitation.email)[:2])
    if len(accounts) > 1:
        return False
    return account_needs_sign_up(accounts[0] if accounts else None)


def role_summary(*, user: User) -> str:
    """The user's role for the menu: "Nurse" when it is the same at every clinic, else
    each clinic's ("Nurse at Harbour, Physician at Hilltop"); operators say so."""
    memberships = list(
        Membership.objects.filter(user=user).select_related("clinic").order_by("clinic__name")
    )
    roles = {m.role for m in memberships}
    if len(roles) == 1:
        return memberships[0].get_role_display()
    if memberships:
        return ", ".join(f"{m.get_role_display()} at {m.clinic.name}" for m in memberships)
    return "Platform operator" if user.is_superuser else ""
