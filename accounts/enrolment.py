"""Proof of the mailbox before a first authenticator is enrolled.

Without it, whoever knows only the password of an account with no authenticator (every
new physician or manager, a nurse just promoted, an account after a two-factor reset)
could enrol their own phone and lock the owner out. So set-up first emails a one-time
code to the account's address and shows the secret only once that code is typed back.

The code is 6 digits from `secrets`, stored only as an HMAC (keyed with SECRET_KEY,
bound to the user and to a nonce that lives in the requesting session, so a code is good
only in the browser that asked for it), compared in constant time, used once, valid for
PUMPTRACK_ENROLMENT_CODE["MINUTES"], dead after ATTEMPTS wrong tries, and an account gets
at most PER_HOUR codes an hour, one per COOLDOWN_SECONDS. At worst a guesser holding the
password tries ATTEMPTS x PER_HOUR codes an hour (15: about one chance in 2,800 a day),
and every code they cause is an email to the owner saying someone has the password.

Ids, never names or addresses, go to the logs.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import secrets
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts import two_factor
from accounts.models import EnrolmentCode, User

logger = logging.getLogger(__name__)

_HMAC_SALT = "pumptrack.accounts.enrolment-code"


class EnrolmentCodeError(ValueError):
    """A code that cannot be sent now, in words the user can act on."""


class Check(enum.Enum):
    ACCEPTED = "accepted"
    WRONG = "wrong"  # wrong, tries left
    SPENT = "spent"  # too many wrong tries, used, replaced, or none asked for
    EXPIRED = "expired"


@dataclass(frozen=True)
class SentCode:
    """What the session keeps: the row and the nonce the code's HMAC is bound to."""

    code_id: int
    nonce: str
    expires_at: dt.datetime


def _policy() -> dict:
    return settings.PUMPTRACK_ENROLMENT_CODE


def code_hash(*, user_id: int, nonce: str, code: str) -> str:
    return salted_hmac(_HMAC_SALT, f"{user_id}:{nonce}:{code}", algorithm="sha256").hexdigest()


def masked_address(email: str) -> str:
    """j***@example.org: enough for the owner to know which mailbox, little for others."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def next_send_at(*, user: User, now: dt.datetime) -> dt.datetime | None:
    """When this account may be sent another code (None: now)."""
    policy = _policy()
    hour_ago = now - dt.timedelta(hours=1)
    recent = list(
        EnrolmentCode.objects.filter(user=user, created_at__gt=hour_ago)
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )
    waits = []
    if recent:
        waits.append(recent[-1] + dt.timedelta(seconds=policy["COOLDOWN_SECONDS"]))
    if len(recent) >= policy["PER_HOUR"]:
        waits.append(recent[-policy["PER_HOUR"]] + dt.timedelta(hours=1))
    later = [w for w in waits if w > now]
    return max(later) if later else None


def enrolment_code_email(*, user: User, code: str, at: dt.datetime) -> tuple[str, str]:
    """Subject and body (no health data: the code, how long it works, what to do if
    it was not you)."""
    local = timezone.localtime(at, two_factor.user_zone(user))
    when = f"{local:%A} {local.day} {local:%B %Y at %H:%M} ({local.tzname()})"
    minutes = _policy()["MINUTES"]
    subject = "pumptrack: your code to set up two-factor sign-in"
    body = (
        f"Hello {user.first_name or user.get_username()},\n\n"
        f"Your code to set up two-factor sign-in on pumptrack is: {code}\n\n"
        f"It was asked for on {when}. It works once, for {minutes} minutes, in the "
        "browser where you asked for it. Nobody from the clinic will ever ask you for it.\n\n"
        "If you did not ask for it, someone knows your password: do not pass the code on, "
        "change your password now and tell your clinic manager.\n\n"
        "This message was sent automatically by pumptrack."
    )
    return subject, body


def enrolment_code_send(*, user: User, now: dt.datetime, replaces: int | None = None) -> SentCode:
    """Make a fresh code, store its HMAC and email it to the account's address.

    `replaces` is the code this session asked for before: it stops working. Raises
    EnrolmentCodeError when the account has no address or asked too often.
    """
    if not user.email:
        raise EnrolmentCodeError(
            "Your account has no email address, so pumptrack cannot check that it is you. "
            "Ask a platform operator to add your address, then try again."
        )
    wait_until = next_send_at(user=user, now=now)
    if wait_until is not None:
        seconds = max(1, int((wait_until - now).total_seconds()) + 1)
        when = f"{seconds} seconds" if seconds <= 120 else f"{(seconds + 59) // 60} minutes"
        raise EnrolmentCodeError(
            f"A code was sent a moment ago: check your email, or ask for a new one in {when}."
        )
    code = f"{secrets.randbelow(10**6):06d}"
    nonce = secrets.token_hex(16)
    with transaction.atomic():
        if replaces is not None:
            EnrolmentCode.objects.filter(pk=replaces, user=user, used_at__isnull=True).update(
                used_at=now
            )
        # Rows older than a day no longer count for anything.
        EnrolmentCode.objects.filter(user=user, created_at__lt=now - dt.timedelta(days=1)).delete()
        row = EnrolmentCode.objects.create(
            user=user,
            code_hash=code_hash(user_id=user.pk, nonce=nonce, code=code),
            created_at=now,
            expires_at=now + dt.timedelta(minutes=_policy()["MINUTES"]),
        )
        subject, body = enrolment_code_email(user=user, code=code, at=now)
        # After commit, through Django's EMAIL_BACKEND like every account email.
        transaction.on_commit(
            partial(send_mail, subject, body, None, [user.email], fail_silently=False),
            robust=True,
        )
    logger.info("enrolment code sent", extra={"user_id": user.pk, "code_id": row.pk})
    return SentCode(code_id=row.pk, nonce=nonce, expires_at=row.expires_at)


def enrolment_code_check(
    *, user: User, code_id: int | None, nonce: str, code: str, now: dt.datetime
) -> tuple[Check, int]:
    """Check a typed code against the one this session asked for; returns the outcome
    and the tries left. An accepted code is used up; a wrong one costs a try."""
    if code_id is None:
        return Check.SPENT, 0
    with transaction.atomic():
        row = EnrolmentCode.objects.select_for_update().filter(pk=code_id, user=user).first()
        if row is None or row.used_at is not None:
            return Check.SPENT, 0
        left = _policy()["ATTEMPTS"] - row.failed_attempts
        if left <= 0:
            return Check.SPENT, 0
        if row.expires_at <= now:
            return Check.EXPIRED, left
        typed = "".join(code.split())
        if constant_time_compare(
            code_hash(user_id=user.pk, nonce=nonce, code=typed), row.code_hash
        ):
            row.used_at = now
            row.save(update_fields=["used_at"])
            logger.info("enrolment code accepted", extra={"user_id": user.pk, "code_id": row.pk})
            return Check.ACCEPTED, left
        row.failed_attempts += 1
        row.save(update_fields=["failed_attempts"])
    logger.warning("wrong enrolment code", extra={"user_id": user.pk, "code_id": row.pk})
    return (Check.WRONG if left > 1 else Check.SPENT), left - 1
