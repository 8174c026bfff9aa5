"""A first authenticator needs a code from the account's mailbox, not the password alone.

Security finding: a physician or manager with no authenticator (every new one, a nurse
just promoted, an account after a two-factor reset) could be enrolled by whoever knew
the password, who then held the only device and locked the owner out.
"""

import base64
import datetime as dt
import itertools
import logging
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts import two_factor
from accounts.models import EnrolmentCode, Membership, Role
from tests.conftest import mailed_enrolment_code, prove_mailbox
from tests.factories import staff

PASSWORD = "correct horse battery"
START = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
SETUP = "accounts:otp_setup"


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def password_session(user) -> Client:
    client = Client()
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    return client


def secret_on(page) -> str | None:
    match = re.search(rb'user-select-all">([A-Z2-7]+)<', page.content)
    if match is None:
        return None
    secret = match.group(1).decode()
    return base64.b32decode(secret + "=" * (-len(secret) % 8)).hex()


def totp_code(hex_key: str) -> str:
    device = TOTPDevice(key=hex_key)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


def send(client):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(reverse(SETUP), {"action": "send"})


def check(client, code):
    return client.post(reverse(SETUP), {"action": "check", "code": code})


def enrol(client) -> bool:
    """Try to finish enrolment from this session: True when a device was confirmed."""
    page = client.get(reverse(SETUP))
    key = secret_on(page) if page.status_code == 200 else None
    if key is None:
        return False
    with TestCase.captureOnCommitCallbacks(execute=True):
        done = client.post(reverse(SETUP), {"token": totp_code(key)})
    return done.status_code == 302


def codes_mailed_to(user) -> list[str]:
    return [
        re.search(r"is: (\d{6})", m.body).group(1)
        for m in mail.outbox
        if m.to == [user.email] and "set up two-factor" in m.subject
    ]


@pytest.fixture
def new_physician(clinic):
    return staff(clinic, Role.PHYSICIAN)


# --------------------------------------------------------------------------- the attack


def test_the_password_alone_neither_sees_the_secret_nor_enrols(new_physician, clock):
    attacker = password_session(new_physician)
    board = attacker.get(reverse("dashboard:board"))
    assert board["Location"].startswith(reverse(SETUP))
    page = attacker.get(reverse(SETUP))
    assert page.status_code == 200
    assert secret_on(page) is None and b"data:image/svg" not in page.content
    assert two_factor.PENDING_KEY_SESSION_KEY not in attacker.session
    # A device code posted blind does nothing either.
    assert attacker.post(reverse(SETUP), {"token": "123456"}).status_code == 200
    # Asking for a code mails the owner, not the attacker.
    send(attacker)
    assert [m.to for m in mail.outbox] == [[new_physician.email]]
    assert "someone knows your password" in mail.outbox[0].body
    for guess in ("000000", "111111", "222222"):
        check(attacker, guess)
    assert secret_on(attacker.get(reverse(SETUP))) is None
    assert not enrol(attacker)
    assert not TOTPDevice.objects.filter(user=new_physician).exists()
    assert attacker.get(reverse("dashboard:board")).status_code == 302


def test_the_owner_with_the_mailbox_enrols(new_physician, clock):
    owner = password_session(new_physician)
    page = owner.get(reverse(SETUP))
    assert b"Email me a code at p***@" in page.content or b"Email me a code at " in page.content
    prove_mailbox(owner, new_physician)
    assert enrol(owner)
    assert TOTPDevice.objects.get(user=new_physician).confirmed
    assert owner.get(reverse("dashboard:board")).status_code == 200
    # The proof is spent with the enrolment.
    assert two_factor.OWNER_PROVEN_SESSION_KEY not in owner.session


def test_a_code_works_only_in_the_browser_that_asked_for_it(new_physician, clock):
    owner, attacker = password_session(new_physician), password_session(new_physician)
    code = mailed_enrolment_code(attacker, new_physician)
    # Even typed into the owner's own session, the attacker's request is not the owner's.
    assert b"no longer works" in check(owner, code).content
    assert secret_on(owner.get(reverse(SETUP))) is None


def test_the_code_expires(new_physician, clock):
    owner = password_session(new_physician)
    code = mailed_enrolment_code(owner, new_physician)
    clock.shift(dt.timedelta(minutes=10, seconds=1))
    assert b"has expired" in check(owner, code).content
    assert secret_on(owner.get(reverse(SETUP))) is None


def test_a_code_is_used_once(new_physician, clock):
    first = password_session(new_physician)
    code = mailed_enrolment_code(first, new_physician)
    assert check(first, code).status_code == 302
    first.post(reverse("accounts:logout"))
    again = password_session(new_physician)
    assert secret_on(again.get(reverse(SETUP))) is None
    # The same session, signed in anew, keeps nothing: the old code does not work again.
    assert check(again, code).status_code == 200


def test_three_wrong_tries_kill_the_code(new_physician, clock):
    owner = password_session(new_physician)
    code = mailed_enrolment_code(owner, new_physician)
    wrong = "000000" if code != "000000" else "111111"
    first = check(owner, wrong)
    assert b"2 tries left" in first.content
    assert b"1 try left" in check(owner, wrong).content
    assert b"no longer works" in check(owner, wrong).content
    assert b"no longer works" in check(owner, code).content
    assert secret_on(owner.get(reverse(SETUP))) is None


def test_codes_are_throttled_per_account(new_physician, clock):
    owner, other = password_session(new_physician), password_session(new_physician)
    send(owner)
    refused = send(other)
    assert len(codes_mailed_to(new_physician)) == 1
    follow = other.get(refused["Location"])
    assert b"ask for a new one in" in follow.content
    for _ in range(4):
        clock.shift(dt.timedelta(seconds=61))
        send(owner)
    assert len(codes_mailed_to(new_physician)) == 5
    clock.shift(dt.timedelta(seconds=61))
    send(owner)
    assert len(codes_mailed_to(new_physician)) == 5  # five an hour
    clock.shift(dt.timedelta(hours=1))
    send(password_session(new_physician))  # the idle session has ended meanwhile
    assert len(codes_mailed_to(new_physician)) == 6


def test_only_a_hash_is_stored_and_logs_carry_ids(new_physician, clock, caplog):
    owner = password_session(new_physician)
    with caplog.at_level(logging.INFO, logger="accounts.enrolment"):
        code = mailed_enrolment_code(owner, new_physician)
        check(owner, "999999" if code != "999999" else "888888")
    row = EnrolmentCode.objects.get(user=new_physician)
    assert code not in str(row.__dict__)
    assert len(row.code_hash) == 64
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert str(new_physician.pk) in logged
    for secret in (code, new_physician.email, new_physician.last_name):
        assert secret not in logged


def test_an_account_without_an_address_is_told_whom_to_ask(clinic, clock):
    user = staff(clinic, Role.MANAGER, email="")
    session = password_session(user)
    page = session.get(reverse(SETUP))
    assert b"has no email address" in page.content
    send(session)
    assert mail.outbox == []


def test_a_nurse_promoted_to_physician_needs_the_mailbox(clinic, clock):
    nurse = staff(clinic, Role.NURSE)
    session = password_session(nurse)
    assert session.get(reverse("dashboard:board")).status_code == 200
    Membership.objects.filter(user=nurse).update(role=Role.PHYSICIAN)
    board = session.get(reverse("dashboard:board"))
    assert board["Location"].startswith(reverse(SETUP))
    assert secret_on(session.get(reverse(SETUP))) is None
    prove_mailbox(session, nurse)
    assert enrol(session)


def test_after_a_managers_reset_the_owner_enrols_through_the_mailbox(
    clinic, new_physician, as_user, clock
):
    TOTPDevice.objects.create(user=new_physician, name="lost phone", confirmed=True)
    manager = staff(clinic, Role.MANAGER)
    client = as_user(manager)
    membership = Membership.objects.get(user=new_physician)
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(reverse("dashboard:staff_two_factor_reset", args=[clinic.pk, membership.pk]))
    new_physician.refresh_from_db()
    assert not TOTPDevice.objects.filter(user=new_physician).exists()
    # The owner sets a new password from the emailed link (here directly), then signs in.
    new_physician.set_password(PASSWORD)
    new_physician.save()
    owner = password_session(new_physician)
    assert secret_on(owner.get(reverse(SETUP))) is None
    prove_mailbox(owner, new_physician)
    assert enrol(owner)


def test_removing_the_last_device_from_a_verified_session_re_enrols_without_a_code(
    as_user, new_physician, clock
):
    client = as_user(new_physician)
    only = TOTPDevice.objects.get(user=new_physician)
    client.post(reverse("accounts:device_remove", args=[only.pk]), {"password": PASSWORD})
    assert secret_on(client.get(reverse(SETUP))) is not None
    assert enrol(client)


# --------------------------------------------------------------------------- property

ACTORS = ("owner", "attacker")
ACTION = st.one_of(
    st.tuples(st.just("sign_in"), st.sampled_from(ACTORS)),
    st.tuples(st.just("request"), st.sampled_from(ACTORS)),
    st.tuples(st.just("wrong"), st.sampled_from(ACTORS)),
    st.tuples(st.just("type_latest_mail"), st.just("owner")),
    st.tuples(st.just("replay"), st.just("owner")),
    # Seconds; the first is past the 10-minute expiry.
    st.tuples(st.just("wait"), st.sampled_from([660, 240, 30])),
    st.tuples(st.just("enrol"), st.sampled_from(ACTORS)),
)
_serial = itertools.count()


class Model:
    """What the owner's mailbox and each session know, to say which code is valid now."""

    def __init__(self):
        self.latest_request = {}  # actor -> (code, sent_at) of that session's last email
        self.wrong_tries = {}  # code -> wrong tries on it
        self.used = set()  # codes accepted once
        self.proven_at = {}  # actor -> when its session proved the mailbox
        self.accepted = []
        self.enrolled_by = None

    def live(self, actor, now):
        """The code this session asked for last, if it can still be accepted."""
        latest = self.latest_request.get(actor)
        if latest is None or actor in self.proven_at:
            return None
        code, sent_at = latest
        if (
            now >= sent_at + dt.timedelta(minutes=10)
            or self.wrong_tries.get(code, 0) >= 3
            or code in self.used
        ):
            return None
        return code

    def typed(self, actor, code, now) -> bool:
        """A code typed in this session: whether it must be accepted (and record it)."""
        live = self.live(actor, now)
        if live is None:
            return False
        if code != live:
            self.wrong_tries[live] = self.wrong_tries.get(live, 0) + 1
            return False
        self.used.add(code)
        self.accepted.append(code)
        self.proven_at[actor] = now
        return True

    def proven(self, actor, now) -> bool:
        at = self.proven_at.get(actor)
        return at is not None and now < at + dt.timedelta(minutes=30)


@pytest.mark.django_db
@hsettings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(ACTION, min_size=1, max_size=10))
# Worked histories beside the generated ones: expired, replayed, another session's code,
# three wrong tries, then the owner's fresh code.
@example(actions=[("wait", 660), ("type_latest_mail", "owner"), ("enrol", "owner")])
@example(actions=[("type_latest_mail", "owner"), ("sign_in", "owner"), ("replay", "owner")])
@example(actions=[("request", "attacker"), ("type_latest_mail", "owner"), ("enrol", "owner")])
@example(actions=[("wrong", "owner")] * 3 + [("type_latest_mail", "owner"), ("enrol", "owner")])
@example(actions=[("wrong", "attacker"), ("type_latest_mail", "owner"), ("enrol", "owner")])
def test_enrolment_completes_only_with_a_fresh_code_from_the_owners_mailbox(actions, clinic):
    """Invariant over sequences of sign-ins, code requests, wrong, expired and replayed
    codes: a device is confirmed only by the owner's session, only after it typed a fresh
    code from the owner's mailbox that this session asked for (the latest, unexpired,
    unused, fewer than 3 wrong tries); and the attacker never sees the secret."""
    user = staff(clinic, Role.PHYSICIAN, username=f"prop{next(_serial)}")
    mail.outbox.clear()
    model = Model()
    with time_machine.travel(START, tick=False) as clock:
        sessions = {actor: password_session(user) for actor in ACTORS}
        # Every history starts with the owner asking for a code, so that the random
        # steps after it (waits, wrong tries, other sessions) bear on a real code.
        for kind, arg in [("request", "owner"), *actions]:
            now = dt.datetime.now(dt.UTC)
            if kind == "sign_in":
                sessions[arg] = password_session(user)
                model.latest_request.pop(arg, None)
                model.proven_at.pop(arg, None)
            elif kind == "request":
                before = len(codes_mailed_to(user))
                send(sessions[arg])
                codes = codes_mailed_to(user)
                if len(codes) > before:
                    assert arg not in model.proven_at  # a proven session asks for none
                    model.latest_request[arg] = (codes[-1], now)
            elif kind in ("wrong", "type_latest_mail", "replay"):
                if kind == "wrong":
                    pool = ["000000" if model.live(arg, now) != "000000" else "000001"]
                elif kind == "type_latest_mail":
                    pool = codes_mailed_to(user)
                else:
                    pool = model.accepted
                if not pool:
                    continue
                proven_before = model.proven(arg, now)
                response = check(sessions[arg], pool[-1])
                if not proven_before:
                    expected = model.typed(arg, pool[-1], now)
                    assert (response.status_code == 302) == expected, (kind, pool[-1])
            elif kind == "wait":
                clock.shift(dt.timedelta(seconds=arg))
            elif kind == "enrol":
                page = sessions[arg].get(reverse(SETUP))
                shown = secret_on(page) is not None
                assert shown == model.proven(arg, now), (arg, model.proven_at)
                if shown:
                    assert enrol(sessions[arg])
                    model.enrolled_by = arg
                    break
        assert TOTPDevice.objects.filter(user=user).count() == (1 if model.enrolled_by else 0)
        assert model.enrolled_by in (None, "owner")
        assert "attacker" not in model.proven_at
