"""Writes for clinic staff: invitations, roles, deactivation and two-factor resets.

Each takes the acting user (`by`), checks that they manage the membership's clinic
(defence in depth: the views reach the clinic through accounts.access first), and
writes the Membership through simple-history with `by` as the history user, so the
audit trail (reports/audit.py) shows who granted, changed or ended each role and
who reset whose second factor. Emails carry no health data: a clinic name, a role,
a user name and a link.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp import devices_for_user

from accounts.access import can
from accounts.models import Membership, Role, User

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InviteResult:
    membership: Membership
    new_account: bool


def _check_manager(by: User, clinic) -> None:
    if not can(by, "manage_clinic", clinic):
        raise PermissionDenied(f"Only a manager of {clinic} can change its staff.")


def _not_yourself(membership: Membership, by: User, what: str) -> None:
    if membership.user_id == by.pk:
        raise ValidationError(
            f"You cannot {what} yourself. Ask another manager of {membership.clinic} "
            "or a platform operator."
        )


def _base_url(base_url: str) -> str:
    public = (settings.REMINDERS.get("PUBLIC_BASE_URL") or "").rstrip("/")
    return public or base_url.rstrip("/")


def set_password_url(*, user: User, base_url: str) -> str:
    """A one-time link to choose a password, from Django's password-reset tokens: it
    stops working once the password is set, and after PASSWORD_RESET_TIMEOUT."""
    path = reverse(
        "accounts:password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return f"{_base_url(base_url)}{path}"


def _email(user: User, template: str, context: dict) -> None:
    subject = render_to_string(f"accounts/email/{template}_subject.txt", context).strip()
    body = render_to_string(f"accounts/email/{template}.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email], fail_silently=False)


def _save_membership(membership: Membership, by: User, update_fields=None) -> None:
    membership._history_user = by
    membership.full_clean()
    membership.save(update_fields=update_fields)


def staff_invite(
    *,
    clinic,
    by: User,
    email: str,
    first_name: str,
    last_name: str,
    role: str,
    receives_escalations: bool = False,
    base_url: str,
) -> InviteResult:
    """Give `email` a role at `clinic`, creating the account if there is none.

    A new account has no usable password: the email carries a link to choose one
    (Django's password-reset token). An existing account keeps its password and is
    told it was added; one that never chose a password gets a fresh link. Inviting
    someone already on the staff again resends the link if they have not signed in
    yet, and is refused otherwise. The email is sent inside the transaction: if it
    cannot be sent, nothing is saved and the manager is told.
    """
    _check_manager(by, clinic)
    email = User.objects.normalize_email((email or "").strip()).lower()
    if role not in Role.values:
        raise ValidationError({"role": "Choose a role."})
    with transaction.atomic():
        matches = list(User.objects.filter(email__iexact=email)[:2])
        if len(matches) > 1:
            raise ValidationError(
                {"email": "Several accounts share this email address; ask a platform operator."}
            )
        user = matches[0] if matches else None
        new_account = user is None
        if new_account:
            if User.objects.filter(username__iexact=email).exists():
                raise ValidationError(
                    {
                        "email": "An account already uses this address as its user name; "
                        "ask a platform operator."
                    }
                )
            user = User(
                username=email,
                email=email,
                first_name=first_name.strip(),
                last_name=last_name.strip(),
            )
            user.set_unusable_password()
            user.full_clean()
            user.save()
        elif not user.is_active:
            # Removed from every clinic earlier; this invitation lets them back in.
            user.is_active = True
            user.save(update_fields=["is_active"])
        membership = Membership.objects.filter(user=user, clinic=clinic).first()
        resend = False
        if membership is not None:
            if user.has_usable_password():
                raise ValidationError(
                    {
                        "email": f"{user.get_full_name() or email} is already on the staff of "
                        f"{clinic}. Change their role from the staff list."
                    }
                )
            resend = True
        else:
            membership = Membership(
                user=user, clinic=clinic, role=role, receives_escalations=receives_escalations
            )
            _save_membership(membership, by)
        context = {
            "user": user,
            "clinic": clinic,
            "role": membership.get_role_display(),
            "invited_by": by.get_full_name() or by.get_username(),
            "set_password_url": None
            if user.has_usable_password()
            else set_password_url(user=user, base_url=base_url),
            "sign_in_url": f"{_base_url(base_url)}{reverse('accounts:login')}",
            "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
        }
        _email(user, "invite", context)
    logger.info(
        "staff invite%s: user %s to clinic %s as %s by user %s",
        " resent" if resend else "",
        user.pk,
        clinic.pk,
        membership.role,
        by.pk,
    )
    return InviteResult(membership=membership, new_account=new_account)


def membership_update(
    *, membership: Membership, by: User, role: str, receives_escalations: bool
) -> Membership:
    """Set the member's role at this clinic (and whether they get escalations)."""
    _check_manager(by, membership.clinic)
    if role not in Role.values:
        raise ValidationError({"role": "Choose a role."})
    if role != membership.role:
        _not_yourself(membership, by, "change the role of")
    changed = [
        name
        for name, value in (("role", role), ("receives_escalations", receives_escalations))
        if getattr(membership, name) != value
    ]
    if not changed:
        return membership
    membership.role = role
    membership.receives_escalations = receives_escalations
    with transaction.atomic():
        _save_membership(membership, by, update_fields=changed)
    logger.info("membership %s changed (%s) by user %s", membership.pk, " ".join(changed), by.pk)
    return membership


def membership_deactivate(*, membership: Membership, by: User) -> None:
    """End the member's access to this clinic only.

    The membership row goes (every query of the access gate reads memberships, so
    none can forget an "active" flag); its history keeps who held which role, until
    when, and who ended it. The account and its other clinics are untouched. An
    account left without any clinic is made inactive so it can no longer sign in;
    a later invitation reactivates it.
    """
    _check_manager(by, membership.clinic)
    _not_yourself(membership, by, "remove")
    user = membership.user
    with transaction.atomic():
        membership._history_user = by
        membership.delete()
        if (
            not Membership.objects.filter(user=user).exists()
            and not user.is_superuser
            and user.is_active
        ):
            user.is_active = False
            user.save(update_fields=["is_active"])
    logger.info(
        "membership of user %s at clinic %s ended by user %s", user.pk, membership.clinic_id, by.pk
    )


def staff_two_factor_reset(*, membership: Membership, by: User) -> bool:
    """Remove every second-factor device of the member; they enrol again at next sign-in.

    Recorded on the membership (two_factor_reset_at, with `by` in its history). The
    member is emailed. Returns whether an email could be sent (False: no address).
    A platform operator's devices are not a clinic's to reset, nor your own (use the
    device page).
    """
    _check_manager(by, membership.clinic)
    _not_yourself(membership, by, "reset the two-factor sign-in of")
    user = membership.user
    if user.is_superuser:
        raise PermissionDenied("A platform operator's two-factor sign-in is reset by operators.")
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=None):
            device.delete()
        membership.two_factor_reset_at = timezone.now()
        _save_membership(membership, by, update_fields=["two_factor_reset_at"])
        emailed = bool(user.email)
        if emailed:
            _email(
                user,
                "two_factor_reset",
                {
                    "user": user,
                    "clinic": membership.clinic,
                    "reset_by": by.get_full_name() or by.get_username(),
                },
            )
    logger.info("two-factor devices of user %s reset by user %s", user.pk, by.pk)
    return emailed
