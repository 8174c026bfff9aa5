"""The user's clinics, a clinic's today and its staff."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from accounts.access import PERMISSIONS, clinics_for
from accounts.models import Membership, User
from patients.models import Clinic


def user_clinics(user: User) -> list[Clinic]:
    return list(clinics_for(user).order_by("name"))


def clinic_today(clinic: Clinic, now: dt.datetime | None = None) -> dt.date:
    return timezone.localtime(now or timezone.now(), clinic.tz).date()


def clinic_staff(clinic: Clinic, *roles: str, other_than: User | None = None) -> QuerySet[User]:
    """Active staff of the clinic, optionally only those whose role AT THIS CLINIC is one of
    `roles`, and never `other_than` (a second clinician is someone else). One Membership
    query: chaining .filter() over the multi-valued memberships relation would let a role
    held at another clinic qualify a user here."""
    memberships = Membership.objects.filter(clinic=clinic)
    if roles:
        memberships = memberships.filter(role__in=roles)
    staff = User.objects.filter(is_active=True, pk__in=memberships.values("user_id"))
    if other_than is not None:
        staff = staff.exclude(pk=other_than.pk)
    return staff.order_by("last_name", "first_name", "username")


def members_for_assignment(clinic: Clinic) -> QuerySet[User]:
    """Colleagues an alert can be given to: those whose role may act on alerts."""
    return clinic_staff(clinic, *PERMISSIONS["act_on_alerts"])
