"""Issue 9, attacker pass: clinic B's manager against clinic A's accounts.

The attack: B's manager invited A's physician by email and the account was attached
to B at once (name disclosed); B's manager then reset its two-factor sign-in, which
removed the device guarding clinic A; whoever knew only the password then enrolled
their own authenticator and read A's patients. Each test replays a step through the
pages and checks the door stays shut.
"""

import datetime as dt
import re

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Membership, Role, StaffInvitation
from reports.audit import audit_entries
from tests.conftest import verify_second_factor
from tests.factories import staff

OLD_PASSWORD = "correct horse battery"  # tests.factories.UserFactory's


def signed_in(user, *, second_factor=True) -> Client:
    client = Client()
    client.force_login(user)
    if second_factor:
        verify_second_factor(client, user)
    return client


def password_signs_in(user, password) -> bool:
    response = Client().post(
        reverse("accounts:login"), {"username": user.get_username(), "password": password}
    )
    return response.status_code == 302


def invite(client, clinic, email, role=Role.NURSE):
    return client.post(
        reverse("dashboard:clinic_staff", args=[clinic.pk]),
        {"email": email, "role": role},
    )


def flashed(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def audit(clinic, model):
    return [e for e in audit_entries(clinic_ids=[clinic.pk]) if e.model == model]


@pytest.fixture
def manager_b(other_clinic):
    return staff(other_clinic, Role.MANAGER)


@pytest.fixture
def victim(physician):
    """Clinic A's physician, signed in before (a last sign-in) with an authenticator."""
    physician.first_name, physician.last_name = "Phyllis", "Victimova"
    physician.last_login = timezone.now() - dt.timedelta(hours=3)
    physician.save()
    TOTPDevice.objects.create(user=physician, name="A's phone", confirmed=True)
    return physician


# --------------------------------------------------------------------------- consent


def test_inviting_another_clinics_account_attaches_nothing_and_says_nothing(
    victim, manager_b, clinic, other_clinic
):
    client = signed_in(manager_b)
    response = invite(client, other_clinic, victim.email.upper())
    assert response.status_code == 302
    assert not Membership.objects.filter(user=victim, clinic=other_clinic).exists()
    assert list(victim.memberships.values_list("clinic_id", flat=True)) == [clinic.pk]
    # The same neutral words as for an address without an account, and no name.
    said = flashed(response)
    fresh = invite(client, other_clinic, "Somebody.New@example.org")
    assert said == [f"Invitation sent to {victim.email.lower()}."]
    assert flashed(fresh)[-1] == "Invitation sent to somebody.new@example.org."
    # Only the address's owner is asked, by email.
    asked = [m for m in mail.outbox if m.to == [victim.email.lower()]]
    assert len(asked) == 1 and "/accounts/invitations/link/" in asked[0].body
    assert "password-reset" not in asked[0].body


def test_the_staff_pages_show_a_pending_invitation_by_email_only(victim, manager_b, other_clinic):
    client = signed_in(manager_b)
    invite(client, other_clinic, victim.email)
    page = client.get(reverse("dashboard:clinic_staff", args=[other_clinic.pk])).content.decode()
    assert victim.email.lower() in page
    # (the user name is not checked: the factory derives the address from it)
    for secret in (victim.first_name, victim.last_name, "Guess", "A's phone"):
        assert secret not in page
    # Nothing of the account is reachable through B's staff pages before acceptance.
    assert not Membership.objects.filter(user=victim, clinic=other_clinic).exists()


def test_only_the_owner_accepts_signed_in_with_the_second_factor(
    victim, manager_b, nurse, clinic, other_clinic
):
    invite(signed_in(manager_b), other_clinic, victim.email, role=Role.NURSE)
    invitation = StaffInvitation.objects.get(email=victim.email.lower())
    accept = reverse("accounts:invitation_answer", args=[invitation.pk, "accept"])
    # Someone else, fully signed in: not theirs to answer.
    assert signed_in(nurse).post(accept).status_code == 404
    # The owner's password alone (no second factor): sent to verify, nothing joins.
    half = signed_in(victim, second_factor=False)
    response = half.post(accept)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:otp_verify"))
    assert not Membership.objects.filter(user=victim, clinic=other_clinic).exists()
    # Fully signed in, the owner sees the offer and accepts.
    owner = signed_in(victim)
    assert other_clinic.name in owner.get(reverse("accounts:invitations")).content.decode()
    assert owner.post(accept).status_code == 302
    joined = Membership.objects.get(user=victim, clinic=other_clinic)
    assert joined.role == Role.NURSE
    assert Membership.objects.get(user=victim, clinic=clinic).role == Role.PHYSICIAN
    # B's audit trail: sent by B's manager, accepted (by the invitee, not named on the
    # invitation's row: attacker pass 2), who then appears as the member who joined.
    trail = audit(other_clinic, "Staff invitation")
    assert [(e.change, e.username, e.user_id) for e in trail] == [
        ("created", manager_b.username, manager_b.pk),
        ("accepted", "the invitee", None),
    ]
    assert "accepted_at" in trail[1].fields
    [granted] = [e for e in audit(other_clinic, "Membership") if e.object_id == joined.pk]
    assert granted.change == "created" and granted.username == victim.username


def test_a_declined_or_expired_invitation_does_nothing(victim, manager_b, other_clinic):
    client = signed_in(manager_b)
    invite(client, other_clinic, victim.email)
    declined = StaffInvitation.objects.get()
    owner = signed_in(victim)
    owner.post(reverse("accounts:invitation_answer", args=[declined.pk, "decline"]))
    response = owner.post(reverse("accounts:invitation_answer", args=[declined.pk, "accept"]))
    assert any("expired or was already answered" in m for m in flashed(response))
    invite(client, other_clinic, victim.email)
    expired = StaffInvitation.objects.exclude(pk=declined.pk).get()
    StaffInvitation.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    owner.post(reverse("accounts:invitation_answer", args=[expired.pk, "accept"]))
    assert not Membership.objects.filter(user=victim, clinic=other_clinic).exists()
    page = owner.get(reverse("accounts:invitations")).content.decode()
    for answered in (declined, expired):
        assert reverse("accounts:invitation_answer", args=[answered.pk, "accept"]) not in page


# --------------------------------------------------------------------------- 2FA reset


def test_a_manager_cannot_reset_the_two_factor_of_someone_who_also_works_elsewhere(
    victim, manager_b, clinic, other_clinic
):
    """Even after the owner agreed to work at B, B cannot open A's door."""
    at_b = Membership.objects.create(user=victim, clinic=other_clinic, role=Role.NURSE)
    client = signed_in(manager_b)
    response = client.post(
        reverse("dashboard:staff_two_factor_reset", args=[other_clinic.pk, at_b.pk])
    )
    assert response.status_code == 302
    assert any("also works at another clinic" in m for m in flashed(response))
    assert TOTPDevice.objects.filter(user=victim, confirmed=True).exists()
    assert password_signs_in(victim, OLD_PASSWORD)
    at_b.refresh_from_db()
    assert at_b.two_factor_reset_at is None
    assert mail.outbox == []


def test_a_manager_of_every_clinic_of_the_account_resets_and_each_trail_shows_it(
    victim, manager, clinic, other_clinic
):
    Membership.objects.create(user=manager, clinic=other_clinic, role=Role.MANAGER)
    Membership.objects.create(user=victim, clinic=other_clinic, role=Role.NURSE)
    at_a = Membership.objects.get(user=victim, clinic=clinic)
    response = signed_in(manager).post(
        reverse("dashboard:staff_two_factor_reset", args=[clinic.pk, at_a.pk])
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=victim).exists()
    for where in (clinic, other_clinic):
        [entry] = [e for e in audit(where, "Membership") if e.change == "changed"]
        assert entry.username == manager.username and entry.fields == ("two_factor_reset_at",)


def test_after_a_reset_the_password_alone_no_longer_signs_in_and_the_email_owner_enrols(
    victim, manager, clinic
):
    at_a = Membership.objects.get(user=victim, clinic=clinic)
    signed_in(manager).post(reverse("dashboard:staff_two_factor_reset", args=[clinic.pk, at_a.pk]))
    assert not TOTPDevice.objects.filter(user=victim).exists()
    # Whoever knows only the old password gets nowhere near the set-up page.
    assert not password_signs_in(victim, OLD_PASSWORD)
    # The email's owner follows the one-time link, chooses a password, then enrols.
    [message] = mail.outbox
    assert message.to == [victim.email]
    link = re.search(r"https?://\S+(/accounts/password-reset/\S+/\S+/)", message.body)
    assert link, message.body
    owner = Client()
    page = owner.get(link.group(1), follow=True)
    form_url = page.redirect_chain[-1][0]
    new = "a-Fresh-pass-for-Phyllis-7"
    assert owner.post(form_url, {"new_password1": new, "new_password2": new}).status_code == 302
    assert not password_signs_in(victim, OLD_PASSWORD)
    owner.post(reverse("accounts:login"), {"username": victim.username, "password": new})
    response = owner.get(reverse("dashboard:board"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:otp_setup"))
