"""Issue 9, attacker pass 2: clinic B's manager probing and squatting through invitations.

An invitation is a StaffInvitation and an email, nothing else: no account and no
membership exist until the address's owner accepts through the signed link in the
email. Without an account they create it there with their own name and password
(and two-factor set-up where the role requires it). Each test performs the attack
through the pages.
"""

import csv
import io
import re

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Membership, Role, StaffInvitation, User
from tests.conftest import verify_second_factor
from tests.factories import staff

NEW_PASSWORD = "a-Long-new-pass-42"
LINK = re.compile(r"https?://\S+/accounts/invitations/link/\S+/")


def signed_in(user, *, second_factor=True) -> Client:
    client = Client()
    client.force_login(user)
    if second_factor:
        verify_second_factor(client, user)
    return client


def staff_url(clinic):
    return reverse("dashboard:clinic_staff", args=[clinic.pk])


def invite(client, clinic, email, role=Role.NURSE, **extra):
    return client.post(staff_url(clinic), {"email": email, "role": role, **extra})


def flashed(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def link_sent_to(email) -> str:
    [message] = [m for m in mail.outbox if m.to == [email.lower()]][-1:]
    found = LINK.search(message.body)
    assert found, message.body
    return found.group(0)


def sign_up(link, first="Nadia", last="Ownname", password=NEW_PASSWORD) -> Client:
    client = Client()
    page = client.get(link)
    assert page.status_code == 200 and b"Create my account" in page.content
    done = client.post(
        link,
        {
            "first_name": first,
            "last_name": last,
            "password": password,
            "password_again": password,
        },
    )
    assert done.status_code == 302, done.content.decode()
    client.get(done["Location"])  # the browser follows (a role without 2FA joined in the POST)
    return client


def pending_rows(page: str) -> list[str]:
    table = page.split("Pending invitations of", 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr><td>.*?</tr>", table, flags=re.S)


@pytest.fixture
def manager_b(other_clinic):
    return staff(other_clinic, Role.MANAGER)


@pytest.fixture
def manager_a(clinic):
    return staff(clinic, Role.MANAGER)


# --------------------------------------------------------------------------- existence leak


def test_one_invitation_does_not_tell_whether_an_address_has_an_account(
    physician, manager_b, other_clinic
):
    client = signed_in(manager_b)
    users_before = User.objects.count()
    known = invite(client, other_clinic, physician.email)
    unknown = invite(client, other_clinic, "nobody.yet@example.org")
    assert flashed(known) == [f"Invitation sent to {physician.email.lower()}."]
    assert flashed(unknown)[-1] == "Invitation sent to nobody.yet@example.org."
    # No account, no member: the new address is a pending invitation like the other.
    assert User.objects.count() == users_before
    assert list(Membership.objects.filter(clinic=other_clinic)) == [
        Membership.objects.get(user=manager_b)
    ]
    page = client.get(staff_url(other_clinic)).content.decode()
    assert "Invited" not in page and "never" not in page.split("Pending invitations")[0]
    rows = pending_rows(page)
    assert len(rows) == 2
    normalised = {
        row.replace(physician.email.lower(), "EMAIL").replace("nobody.yet@example.org", "EMAIL")
        for row in rows
    }
    assert len(normalised) == 1, rows  # the same columns, the same words


@pytest.mark.parametrize(
    "email",
    [
        "o'brien@example.org",
        "a" * 60 + "@" + ("b" * 60 + ".") * 2 + "example.org",  # 196 characters
    ],
)
def test_an_address_no_user_name_could_hold_is_invited_and_signs_up(manager_b, other_clinic, email):
    response = invite(signed_in(manager_b), other_clinic, email)
    assert response.status_code == 302, response.context["form"].errors
    client = sign_up(link_sent_to(email))
    user = User.objects.get(email=email)
    assert user.check_password(NEW_PASSWORD) and len(user.username) <= 150
    assert Membership.objects.get(user=user, clinic=other_clinic).role == Role.NURSE
    assert client.get(reverse("dashboard:board")).status_code == 200


def test_the_inviting_clinics_audit_shows_a_decline_but_not_who_declined(
    physician, manager_b, other_clinic
):
    invite(signed_in(manager_b), other_clinic, physician.email)
    invitation = StaffInvitation.objects.get()
    owner = signed_in(physician)
    owner.post(reverse("accounts:invitation_answer", args=[invitation.pk, "decline"]))
    export = signed_in(manager_b).get(
        reverse("reports:audit"),
        {"clinic": other_clinic.pk, "format": "csv", "since": "2000-01-01"},
    )
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    # One line per changed field: the answer is one change of one invitation.
    answers = [
        r for r in rows if r["record type"] == "Staff invitation" and r["change"] != "created"
    ]
    assert {(r["record id"], r["change"]) for r in answers} == {(str(invitation.pk), "declined")}
    assert answers[0]["when (clinic time)"]
    assert "Answered by" not in {r["field"] for r in answers}
    for row in rows:
        assert row["user"] != physician.username
        assert physician.username not in row["user name"]
        assert row["user id"] != str(physician.pk)


# --------------------------------------------------------------------------- squatting


def test_b_cannot_create_or_name_a_future_colleagues_account(
    manager_a, manager_b, clinic, other_clinic
):
    """B invites A's future colleague first, as a manager, with an A physician's name."""
    future = "future.colleague@example.org"
    response = invite(
        signed_in(manager_b),
        other_clinic,
        future,
        role=Role.MANAGER,
        first_name="Phyllis",
        last_name="Victimova",
    )
    assert response.status_code == 302
    assert not User.objects.filter(email__iexact=future).exists()
    assert "Victimova" not in mail.outbox[0].body
    # A invites them too; the owner uses A's link, names themselves and joins A only.
    invite(signed_in(manager_a), clinic, future, role=Role.NURSE)
    sign_up(link_sent_to(future), first="Fiona", last="Future")
    user = User.objects.get(email=future)
    assert (user.first_name, user.last_name) == ("Fiona", "Future")
    assert list(user.memberships.values_list("clinic_id", "role")) == [(clinic.pk, Role.NURSE)]
    # B's offer waits for the owner's signed-in answer, like any other.
    assert StaffInvitation.objects.get(clinic=other_clinic).accepted_at is None


def test_an_account_that_never_set_a_password_is_onboarded_by_any_clinics_link(
    manager_a, clinic, other_clinic
):
    """An unfinished account (for instance squatted before this fix): A's invitation
    lets the address's owner choose the name and password."""
    squatted = User.objects.create(
        username="future.colleague@example.org",
        email="future.colleague@example.org",
        first_name="Phyllis",
        last_name="Victimova",
    )
    squatted.set_unusable_password()
    squatted.save()
    invite(signed_in(manager_a), clinic, squatted.email)
    sign_up(link_sent_to(squatted.email), first="Fiona", last="Future")
    squatted.refresh_from_db()
    assert squatted.check_password(NEW_PASSWORD)
    assert (squatted.first_name, squatted.last_name) == ("Fiona", "Future")
    assert Membership.objects.get(user=squatted, clinic=clinic).role == Role.NURSE


def test_a_role_with_two_factor_joins_only_after_enrolment(manager_b, other_clinic):
    invite(signed_in(manager_b), other_clinic, "new.doc@example.org", role=Role.PHYSICIAN)
    link = link_sent_to("new.doc@example.org")
    client = Client()
    client.get(link)
    done = client.post(
        link,
        {
            "first_name": "Dora",
            "last_name": "Doc",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert done.status_code == 302
    setup = client.get(done["Location"])
    assert setup.status_code == 302 and setup["Location"].startswith(reverse("accounts:otp_setup"))
    user = User.objects.get(email="new.doc@example.org")
    assert not Membership.objects.filter(user=user).exists()
    page = client.get(setup["Location"])
    secret = re.search(rb'user-select-all">([A-Z2-7]+)<', page.content).group(1).decode()
    import base64

    key = base64.b32decode(secret + "=" * (-len(secret) % 8)).hex()
    device = TOTPDevice(key=key)
    code = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    enrolled = client.post(setup["Location"], {"token": f"{code:06d}"})
    assert enrolled.status_code == 302
    # Reads never write: the GET the set-up sends back to only shows the "Join" button.
    join_page = client.get(enrolled["Location"])
    assert join_page.status_code == 200 and b"Join " in join_page.content
    assert not Membership.objects.filter(user=user).exists()
    joined = client.post(enrolled["Location"])
    assert joined.status_code == 302
    assert Membership.objects.get(user=user, clinic=other_clinic).role == Role.PHYSICIAN
    assert StaffInvitation.objects.get().accepted_at is not None


def test_the_link_is_the_invitees_alone(physician, nurse, manager_b, other_clinic):
    invite(signed_in(manager_b), other_clinic, "someone@example.org")
    link = link_sent_to("someone@example.org")
    # Another account, signed in, gets nothing from it; a forged or altered token is a 404.
    assert signed_in(nurse).get(link).status_code == 403
    assert Client().get(link[:-2] + "x/").status_code == 404
    # An address with a usable account is sent to sign in, not to a sign-up page.
    invite(signed_in(manager_b), other_clinic, physician.email)
    response = Client().get(link_sent_to(physician.email))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    # Once answered, the link no longer works.
    sign_up(link)
    assert Client().get(link).status_code == 410


# --------------------------------------------------------------------------- smaller


@pytest.mark.parametrize("zone", ["localtime", "Factory", "EST", "GMT", "EST5EDT"])
def test_a_clinic_zone_must_be_a_region(manager_a, clinic, zone):
    from tests.dashboard.test_clinic_admin import settings_post

    response = signed_in(manager_a).post(
        reverse("dashboard:clinic_settings", args=[clinic.pk]), settings_post(clinic, timezone=zone)
    )
    assert response.status_code == 200
    clinic.refresh_from_db()
    assert str(clinic.timezone) != zone


def test_the_settings_service_checks_the_acting_user_manages_the_clinic(manager_b, nurse, clinic):
    from django.core.exceptions import PermissionDenied

    from accounts.services import clinic_settings_update

    for outsider in (manager_b, nurse):
        with pytest.raises(PermissionDenied):
            clinic_settings_update(clinic=clinic, by=outsider, default_refill_margin_days=20)
    clinic.refresh_from_db()
    assert clinic.default_refill_margin_days != 20


def test_an_account_an_operator_closed_is_not_reopened_by_an_invitation(
    nurse, manager_b, clinic, other_clinic
):
    nurse.is_active = False
    nurse.set_unusable_password()
    nurse.save()
    invite(signed_in(manager_b), other_clinic, nurse.email)
    response = Client().get(link_sent_to(nurse.email))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    nurse.refresh_from_db()
    assert not nurse.is_active


# --------------------------------------------------------------------------- attacker pass 3


def test_an_older_invitation_link_cannot_take_over_an_account_after_its_2fa_reset(
    manager_a, manager_b, clinic, other_clinic, physician
):
    """B invites A's physician; A then resets the physician's two-factor sign-in (their
    password becomes unusable). Whoever holds B's older email must not be able to set a
    password on the account and enrol their own authenticator: it used to open the
    sign-up page and hand over the physician's role at clinic A."""
    from accounts import services as account_services

    physician.email = "phyllis.physician@example.org"
    physician.save()
    invite(signed_in(manager_b), other_clinic, physician.email)
    stolen_link = link_sent_to(physician.email)
    account_services.staff_two_factor_reset(
        membership=Membership.objects.get(user=physician, clinic=clinic),
        by=manager_a,
        base_url="http://testserver",
    )
    physician.refresh_from_db()
    assert not physician.has_usable_password()

    outsider = Client()
    page = outsider.get(stolen_link)
    assert page.status_code == 302 and reverse("accounts:login") in page["Location"]
    posted = outsider.post(
        stolen_link,
        {
            "first_name": "Eve",
            "last_name": "Attacker",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert posted.status_code == 302 and reverse("accounts:login") in posted["Location"]
    physician.refresh_from_db()
    assert not physician.has_usable_password()
    assert physician.first_name != "Eve"
    assert "_auth_user_id" not in outsider.session


def test_a_link_never_sets_up_an_account_that_works_at_a_clinic(manager_b, other_clinic, clinic):
    """An account of clinic A that has not chosen a password yet is set up through A's own
    set-password email, not through another clinic's invitation (that overwrote its
    name and password and opened clinic A to the link's holder)."""
    unfinished = staff(clinic, Role.NURSE, email="nina.unfinished@example.org")
    unfinished.set_unusable_password()
    unfinished.save()
    invite(signed_in(manager_b), other_clinic, unfinished.email)
    page = Client().get(link_sent_to(unfinished.email))
    assert page.status_code == 302 and reverse("accounts:login") in page["Location"]
    unfinished.refresh_from_db()
    assert not unfinished.has_usable_password()
