"""Writes for clinic staff: invitations, roles, deactivation and two-factor resets.

Each takes the acting user (`by`), checks that they manage the membership's clinic
(defence in depth: the views reach the clinic through accounts.access first), and
writes the Membership through simple-history with `by` as the history user, so the
audit trail (reports/audit.py) shows who granted, changed or ended each role and
who reset whose second factor. Emails carry no health data and nothing a
manager typed: a clinic name, a role, a name the recipient chose, a link.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.access import can
from accounts.models import Membership, Role, StaffInvitation, User
from patients import services as patient_services

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InviteResult:
    """What an invitation did: the same for every address (with an account or not), so
    the manager learns nothing about accounts outside their clinic."""

    email: str
    invitation: StaffInvitation


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
    role: str,
    receives_escalations: bool = False,
    base_url: str,
) -> InviteResult:
    """Invite `email` to a role at `clinic`: a StaffInvitation and an email, nothing else.

    The same for every address, with an account or without (issue 9, attacks on
    account existence and squatting): no account is created, read or changed, and no
    membership exists until the address's owner accepts through the one-time link
    in the email (invitation_url, a signed token bound to this invitation). Without
    an account, the link opens a sign-up page where the invitee types their own
    name and password (invitation_sign_up); with one, it leads to sign-in and the
    accept/decline page. A new offer replaces an open one for the same address at
    this clinic. A member of this clinic who can sign in is refused (the manager sees
    them in the staff list anyway).

    The email is sent inside the transaction: if it cannot be sent, nothing is saved.
    """
    _check_manager(by, clinic)
    email = User.objects.normalize_email((email or "").strip()).lower()
    if role not in Role.values:
        raise ValidationError({"role": "Choose a role."})
    now = timezone.now()
    with transaction.atomic():
        members = Membership.objects.filter(clinic=clinic, user__email__iexact=email)
        if any(m.user.has_usable_password() for m in members.select_related("user")):
            raise ValidationError(
                {
                    "email": f"{email} is already on the staff of {clinic}. Change their role "
                    "from the staff list."
                }
            )
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
        # No manager-typed text in the email: the clinic, the role and the link only.
        context = {
            "clinic": clinic,
            "role": invitation.get_role_display(),
            "invitation_url": invitation_url(invitation=invitation, base_url=base_url),
            "expires_at": invitation.expires_at,
        }
        subject = render_to_string("accounts/email/invitation_subject.txt", context).strip()
        body = render_to_string("accounts/email/invitation.txt", context)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email], fail_silently=False)
    logger.info(
        "staff invitation %s to clinic %s as %s by user %s", invitation.pk, clinic.pk, role, by.pk
    )
    return InviteResult(email=email, invitation=invitation)


INVITATION_SALT = "accounts.StaffInvitation.link"


def invitation_token(invitation: StaffInvitation) -> str:
    """A token bound to this invitation (its id, address and creation time), signed
    with SECRET_KEY. It works while the invitation is open: accepting, declining, a
    newer invitation to the same address or the expiry ends it."""
    return signing.dumps(
        [invitation.pk, invitation.email, invitation.created_at.isoformat()], salt=INVITATION_SALT
    )


def invitation_url(*, invitation: StaffInvitation, base_url: str) -> str:
    path = reverse("accounts:invitation_link", kwargs={"token": invitation_token(invitation)})
    return f"{_base_url(base_url)}{path}"


def invitation_from_token(token: str) -> StaffInvitation | None:
    """The invitation a token was made for, or None (forged, altered or unknown)."""
    try:
        pk, email, created = signing.loads(token, salt=INVITATION_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    invitation = StaffInvitation.objects.select_related("clinic").filter(pk=pk).first()
    if (
        invitation is None
        or invitation.email != email
        or invitation.created_at.isoformat() != created
    ):
        return None
    return invitation


def account_needs_sign_up(user: User | None) -> bool:
    """Whether the invitation link sets this account up like a new one: no account, or
    one that cannot sign in (never finished, or closed when removed from its last
    clinic). A platform operator's account never is."""
    if user is None:
        return True
    if user.is_superuser:
        return False
    if user.memberships.exists() or TOTPDevice.objects.filter(user=user).exists():
        # An account that works at a clinic (or has an authenticator) is never set up
        # through a link: after a two-factor reset its password is unusable on purpose,
        # and whoever held an older invitation email of another clinic could otherwise
        # set a new password and take over its role at every clinic. Its owner uses the
        # set-password email their own clinic sent, then signs in and answers.
        return False
    # Never finished, or closed when removed from its last clinic.
    return not user.is_active or not user.has_usable_password()


def _new_username(email: str) -> str:
    """A user name from the address (Django's user-name characters only), unique."""
    base = re.sub(r"[^\w.@+-]", "", email, flags=re.ASCII)[:150] or "staff"
    candidate = base
    while User.objects.filter(username__iexact=candidate).exists():
        candidate = f"{base[:140]}-{get_random_string(6, 'abcdefghijkmnpqrstuvwxyz23456789')}"
    return candidate


def invitation_sign_up(
    *, invitation: StaffInvitation, first_name: str, last_name: str, password: str
) -> User:
    """The invitee, through the link in the email, types their own name and password.

    For an address without an account this creates it (user name from the address);
    an account that cannot sign in (see account_needs_sign_up) gets the name and
    password and is reopened. No membership yet: invitation_accept makes it, after
    the two-factor set-up that the invited role requires.
    """
    first_name, last_name = (first_name or "").strip(), (last_name or "").strip()
    with transaction.atomic():
        invitation = StaffInvitation.objects.select_for_update().get(pk=invitation.pk)
        if not invitation.is_open(timezone.now()):
            raise ValidationError(INVITATION_CLOSED.format(clinic=invitation.clinic))
        accounts = list(User.objects.select_for_update().filter(email__iexact=invitation.email))
        if len(accounts) > 1 or (accounts and not account_needs_sign_up(accounts[0])):
            raise ValidationError("This address has an account: sign in to answer.")
        user = (
            accounts[0]
            if accounts
            else User(username=_new_username(invitation.email), email=invitation.email)
        )
        user.first_name, user.last_name = first_name, last_name
        user.is_active = True
        try:
            password_validation.validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        user.set_password(password)
        user.full_clean()
        user.save()
    logger.info("account %s set up through invitation %s", user.pk, invitation.pk)
    return user


INVITATION_CLOSED = (
    "This invitation has expired or was already answered or withdrawn: ask the "
    "clinic ({clinic}) to invite you again."
)


def _open_invitation(invitation: StaffInvitation, user: User) -> None:
    if (invitation.email or "").lower() != (user.email or "").lower():
        raise PermissionDenied("This invitation is not addressed to you.")
    if not invitation.is_open(timezone.now()):
        raise ValidationError(INVITATION_CLOSED.format(clinic=invitation.clinic))


def staff_account_set_up(
    *,
    clinic,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    role: str,
    receives_escalations: bool = False,
    password_hash: str | None = None,
) -> User:
    """Set up a staff account at `clinic` without an invitation: for set-up tooling that
    runs without a manager (the local demo clinic), never for a page.

    Creates the account unless the username exists (an existing one keeps its names) and
    gives it `role` at `clinic` unless it has a role there. `password_hash` is an encoded
    password (django.contrib.auth.hashers.make_password), so a caller setting up several
    accounts with one password hashes it once; the account then signs in with it and has
    no staff status (the admin is for operators). Without it a new account's password is
    unusable and an existing account's is left alone.
    """
    if role not in Role.values:
        raise ValidationError({"role": "Choose a role."})
    with transaction.atomic():
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first_name, "last_name": last_name, "email": email},
        )
        if password_hash is not None:
            user.password = password_hash
            user.is_staff = False
            user.save(update_fields=["password", "is_staff"])
        elif created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        if not Membership.objects.filter(user=user, clinic=clinic).exists():
            membership = Membership(
                user=user, clinic=clinic, role=role, receives_escalations=receives_escalations
            )
            # No acting person: the audit trail shows the role granted by nobody.
            _save_membership(membership, None)
    logger.info("staff account %s set up at clinic %s", user.pk, clinic.pk)
    return user


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


def staff_sign_in_unlock(*, membership: Membership, by: User) -> int:
    """Lift the member's sign-in lock-out (django-axes) on every computer, so they can
    try their password again at once; returns how many locked records were removed.

    Only a manager of the membership's clinic (the view reaches the membership through
    that clinic, so another clinic's member is a 404 before this). The lock is the
    account's, so a manager of any clinic the member works at may lift it: it grants
    nothing but another try of the password (and the second factor after it). A
    platform operator's lock-out is lifted by operators. Logged with ids only.
    """
    _check_manager(by, membership.clinic)
    user = membership.user
    if user.is_superuser:
        raise PermissionDenied("A platform operator's sign-in lock-out is lifted by operators.")
    removed = axes_reset(username=user.get_username())
    logger.info(
        "sign-in lock-out of user %s lifted (%s records) by user %s at clinic %s",
        user.pk,
        removed,
        by.pk,
        membership.clinic_id,
    )
    return removed


def clinic_settings_update(*, clinic, by: User | None, **fields):
    """Change a clinic's settings (patients.services.clinic_settings_save) as `by`, who must
    manage this clinic: checked here too, not only by the view (defence in depth). The
    check lives in accounts because roles do: patients sits below accounts."""
    if by is None or not can(by, "manage_clinic", clinic):
        raise PermissionDenied(f"Only a manager of {clinic} can change its settings.")
    return patient_services.clinic_settings_save(clinic=clinic, by=by, **fields)


def clinic_closure_add(*, clinic, by: User | None, **fields):
    """Record days the clinic is shut (patients.services.clinic_closure_add) as ``by``, who
    must manage this clinic (checked here too, not only by the view)."""
    if by is None or not can(by, "manage_clinic", clinic):
        raise PermissionDenied(f"Only a manager of {clinic} can record closures.")
    return patient_services.clinic_closure_add(clinic=clinic, by=by, **fields)


def clinic_closure_remove(*, closure, by: User | None) -> None:
    if by is None or not can(by, "manage_clinic", closure.clinic):
        raise PermissionDenied(f"Only a manager of {closure.clinic} can remove closures.")
    patient_services.clinic_closure_remove(closure=closure, by=by)
