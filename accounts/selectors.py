"""Reads for clinic administration: a clinic's staff and one membership, scoped by clinic."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Membership


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
