"""Writes for clinic staff: invitations, roles, deactivation and two-factor resets.

Each takes the acting user (`by`), checks that they manage the membership's clinic
(defence in depth: the views reach the clinic through accounts.access first), and
writes the Membership through simple-history with `by` as the history user, so the
audit trail (reports/audit.py) shows who granted, changed or ended each role and
who reset whose second factor. Emails carry no health data: a clinic name, a role,
a user name and a link.
"""

from __future__ import annotations

import datetime as dt
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
from accounts.models import Membership, Role, StaffInvitation, User

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InviteResult:
    """What an invitation did. The view shows the same message whatever it is, so the
    manager learns nothing about accounts outside their clinic."""

    email: str
    membership: Membership | None = None  # a new account, added at once
    invitation: StaffInvitation | None = None  # an existing account: waits for its owner


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


def _invitation_expiry(now):
    return now + dt.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)


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
    """Invite `email` to a role at `clinic`.

    A new address gets an account with no usable password and the role at once: the
    email carries a one-time link to choose a password (Django's password-reset
    token), so only the address's owner can ever sign in. Inviting them again before
    they have chosen it resends the link.

    An address that already has an account gets a pending StaffInvitation, never a
    membership: the owner accepts or declines it signed in with password and second
    factor (invitation_accept). Their name, password, devices and other clinics are
    neither read for the manager nor changed; an account removed from every clinic
    (inactive) is reopened with an unusable password and a set-password link, so the
    old password cannot be used to accept. A member of this clinic is refused (the
    manager sees them in the staff list anyway).

    The email is sent inside the transaction: if it cannot be sent, nothing is saved.
    """
    _check_manager(by, clinic)
    email = User.objects.normalize_email((email or "").strip()).lower()
    if role not in Role.values:
        raise ValidationError({"role": "Choose a role."})
    now = timezone.now()
    with transaction.atomic():
        accounts = list(User.objects.filter(email__iexact=email))
        if any(
            Membership.objects.filter(user=user, clinic=clinic).exists()
            and user.has_usable_password()
            for user in accounts
        ):
            raise ValidationError(
                {
                    "email": f"{email} is already on the staff of {clinic}. Change their role "
                    "from the staff list."
                }
            )
        if not accounts and not User.objects.filter(username__iexact=email).exists():
            membership = _invite_new_account(
                clinic=clinic,
                by=by,
                email=email,
                first_name=first_name,
                last_name=last_name,
                role=role,
                receives_escalations=receives_escalations,
                base_url=base_url,
            )
            result = InviteResult(email=email, membership=membership)
        else:
            pending = [
                m for user in accounts for m in Membership.objects.filter(user=user, clinic=clinic)
            ]
            if pending:  # a new account of this clinic that never chose a password
                membership = pending[0]
                _send_invite(membership.user, clinic, by, membership.get_role_display(), base_url)
                result = InviteResult(email=email, membership=membership)
            else:
                invitation = _invite_existing_account(
                    clinic=clinic,
                    by=by,
                    email=email,
                    accounts=accounts,
                    role=role,
                    receives_escalations=receives_escalations,
                    base_url=base_url,
                    now=now,
                )
                result = InviteResult(email=email, invitation=invitation)
    logger.info(
        "staff invite to clinic %s as %s by user %s (%s)",
        clinic.pk,
        role,
        by.pk,
        f"invitation {result.invitation.pk}" if result.invitation else "new account",
    )
    return result


def _send_invite(user: User, clinic, by: User, role_label: str, base_url: str) -> None:
    _email(
        user,
        "invite",
        {
            "user": user,
            "clinic": clinic,
            "role": role_label,
            "invited_by": by.get_full_name() or by.get_username(),
            "set_password_url": set_password_url(user=user, base_url=base_url),
            "sign_in_url": f"{_base_url(base_url)}{reverse('accounts:login')}",
            "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
        },
    )


def _invite_new_account(
    *, clinic, by, email, first_name, last_name, role, receives_escalations, base_url
) -> Membership:
    user = User(
        username=email, email=email, first_name=first_name.strip(), last_name=last_name.strip()
    )
    user.set_unusable_password()
    user.full_clean()
    user.save()
    membership = Membership(
        user=user, clinic=clinic, role=role, receives_escalations=receives_escalations
    )
    _save_membership(membership, by)
    _send_invite(user, clinic, by, membership.get_role_display(), base_url)
    return membership


def _invite_existing_account(
    *, clinic, by, email, accounts, role, receives_escalations, base_url, now
) -> StaffInvitation:
    # A new offer replaces an open one for the same address at this clinic.
    for old in StaffInvitation.objects.select_for_update().filter(
        clinic=clinic,
        email__iexact=email,
        accepted_at=None,
        declined_at=None,
        withdrawn_at=None,
    ):
        old.withdrawn_at = now
        old._history_user = by
        old.save(update_fields=["withdrawn_at"])
    invitation = StaffInvitation(
        clinic=clinic,
        email=email,
        role=role,
        receives_escalations=receives_escalations,
        invited_by=by,
        created_at=now,
        expires_at=_invitation_expiry(now),
    )
    invitation._history_user = by
    invitation.full_clean()
    invitation.save()
    accept_url = f"{_base_url(base_url)}{reverse('accounts:invitations')}"
    reopened = None
    if len(accounts) == 1:
        user = accounts[0]
        if not user.is_active and not user.is_superuser and not user.memberships.exists():
            # Removed from every clinic earlier: reopen the account for its email's
            # owner only (the old password no longer works), so they can sign in and answer.
            user.is_active = True
            user.set_unusable_password()
            user.save(update_fields=["is_active", "password"])
            reopened = user
            logger.info("account %s reopened by invitation %s", user.pk, invitation.pk)
    elif not accounts:
        logger.warning(
            "invitation %s: no account has this address, another uses it as user name",
            invitation.pk,
        )
    context = {
        "clinic": clinic,
        "role": invitation.get_role_display(),
        "invited_by": by.get_full_name() or by.get_username(),
        "accept_url": accept_url,
        "set_password_url": set_password_url(user=reopened, base_url=base_url)
        if reopened
        else None,
        "sign_in_url": f"{_base_url(base_url)}{reverse('accounts:login')}",
        "expires_at": invitation.expires_at,
        "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    subject = render_to_string("accounts/email/invitation_subject.txt", context).strip()
    body = render_to_string("accounts/email/invitation.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email], fail_silently=False)
    return invitation


def _open_invitation(invitation: StaffInvitation, user: User) -> None:
    if (invitation.email or "").lower() != (user.email or "").lower():
        raise PermissionDenied("This invitation is not addressed to you.")
    if not invitation.is_open(timezone.now()):
        raise ValidationError(
            "This invitation has expired or was already answered or withdrawn: ask the "
            f"clinic ({invitation.clinic}) to invite you again."
        )


def invitation_accept(*, invitation: StaffInvitation, user: User) -> Membership:
    """The account owner accepts: the only way an existing account joins a clinic.

    The caller (accounts.views) has checked that the session passed the second factor.
    """
    with transaction.atomic():
        invitation = StaffInvitation.objects.select_for_update().get(pk=invitation.pk)
        _open_invitation(invitation, user)
        if not user.is_active:
            raise PermissionDenied("This account is not active.")
        membership = Membership.objects.filter(user=user, clinic=invitation.clinic).first()
        if membership is None:
            membership = Membership(
                user=user,
                clinic=invitation.clinic,
                role=invitation.role,
                receives_escalations=invitation.receives_escalations,
            )
            _save_membership(membership, user)
        invitation.accepted_at = timezone.now()
        invitation.answered_by = user
        invitation._history_user = user
        invitation.save(update_fields=["accepted_at", "answered_by"])
    logger.info("invitation %s accepted by user %s", invitation.pk, user.pk)
    return membership


def invitation_decline(*, invitation: StaffInvitation, user: User) -> None:
    with transaction.atomic():
        invitation = StaffInvitation.objects.select_for_update().get(pk=invitation.pk)
        _open_invitation(invitation, user)
        invitation.declined_at = timezone.now()
        invitation.answered_by = user
        invitation._history_user = user
        invitation.save(update_fields=["declined_at", "answered_by"])
    logger.info("invitation %s declined by user %s", invitation.pk, user.pk)


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


OTHER_CLINIC_RESET = (
    "This person also works at another clinic: ask a platform operator to reset their "
    "two-factor sign-in."
)


def staff_two_factor_reset(*, membership: Membership, by: User, base_url: str) -> None:
    """Remove every second-factor device of the member, and their password with it.

    Only within the manager's authority: every clinic the account works at must be
    one `by` manages (otherwise a manager could open another clinic's door). The
    password is made unusable and the member is emailed a one-time set-password link
    (Django's password-reset token), so whoever knows the old password cannot sign
    in and enrol their own authenticator: the email's owner sets a new password,
    then enrols. Every open session of the account ends (the password changed).
    Recorded on each of the account's memberships (two_factor_reset_at, with `by` in
    its history), so the reset is in the audit trail of every clinic concerned. A
    member without an email address cannot receive the link and is refused. A
    platform operator's devices are not a clinic's to reset, nor your own (use the
    device page).
    """
    _check_manager(by, membership.clinic)
    _not_yourself(membership, by, "reset the two-factor sign-in of")
    user = membership.user
    if user.is_superuser:
        raise PermissionDenied("A platform operator's two-factor sign-in is reset by operators.")
    with transaction.atomic():
        memberships = list(
            Membership.objects.select_for_update().filter(user=user).select_related("clinic")
        )
        if any(not can(by, "manage_clinic", m.clinic) for m in memberships):
            raise ValidationError(OTHER_CLINIC_RESET)
        if not user.email:
            raise ValidationError(
                "They have no email address, so the link to choose a new password cannot "
                "reach them: ask a platform operator."
            )
        for device in devices_for_user(user, confirmed=None):
            device.delete()
        user.set_unusable_password()
        user.save(update_fields=["password"])
        now = timezone.now()
        for member in memberships:
            member.two_factor_reset_at = now
            _save_membership(member, by, update_fields=["two_factor_reset_at"])
        _email(
            user,
            "two_factor_reset",
            {
                "user": user,
                "clinic": membership.clinic,
                "reset_by": by.get_full_name() or by.get_username(),
                "set_password_url": set_password_url(user=user, base_url=base_url),
                "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
            },
        )
    logger.info("two-factor devices and password of user %s reset by user %s", user.pk, by.pk)
