"""Clinic administration in the app: settings, staff, 2FA resets, scoped and audited.

A manager of the clinic may; any other role there gets 403; another clinic's
clinic or membership id is a 404 and nothing of it is read or written. Every change
lands in the audit trail (reports/audit.py) with the acting user.
"""

import datetime as dt
import re

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts import services as staff_services
from accounts.models import Membership, Role, StaffInvitation, User
from reminders.models import MessageTemplate
from reports.audit import audit_entries
from tests.factories import staff

# --------------------------------------------------------------------------- helpers


def settings_url(clinic):
    return reverse("dashboard:clinic_settings", args=[clinic.pk])


def staff_url(clinic):
    return reverse("dashboard:clinic_staff", args=[clinic.pk])


def member_url(clinic, membership, name="staff_member"):
    return reverse(f"dashboard:{name}", args=[clinic.pk, membership.pk])


def settings_post(clinic, **changes):
    data = {
        "phone": clinic.phone,
        "after_hours_phone": clinic.after_hours_phone,
        "timezone": clinic.timezone,
        "default_refill_margin_days": clinic.default_refill_margin_days,
        "working_days": list(clinic.working_days),
        "day_starts": clinic.day_starts.strftime("%H:%M"),
        "day_ends": clinic.day_ends.strftime("%H:%M"),
        "refill_slots_per_day": clinic.refill_slots_per_day,
    }
    data.update(changes)
    return data


def audit_for(clinic, model):
    return [e for e in audit_entries(clinic_ids=[clinic.pk]) if e.model == model]


def membership(user, clinic):
    return Membership.objects.get(user=user, clinic=clinic)


def password_signs_in(client, user, password) -> bool:
    """Whether the sign-in page accepts this password (through axes, as in production)."""
    client.logout()
    response = client.post(
        reverse("accounts:login"), {"username": user.get_username(), "password": password}
    )
    return response.status_code == 302


@pytest.fixture
def manager_client(as_user, manager):
    return as_user(manager)


# --------------------------------------------------------------------------- access


def every_page(clinic, member):
    return [
        settings_url(clinic),
        staff_url(clinic),
        member_url(clinic, member),
        member_url(clinic, member, "staff_deactivate"),
        member_url(clinic, member, "staff_two_factor_reset"),
    ]


@pytest.mark.parametrize("role", [Role.NURSE, Role.PHYSICIAN, Role.SCHEDULER, Role.AUDITOR])
def test_other_roles_get_403_and_nothing_changes(as_user, clinic, nurse, role):
    user = staff(clinic, role) if role != Role.NURSE else nurse
    target = membership(staff(clinic, Role.SCHEDULER), clinic)
    client = as_user(user)
    before = (clinic.phone, Membership.objects.count(), User.objects.count())
    for url in every_page(clinic, target):
        assert client.get(url).status_code in (403, 405), url
        assert client.post(url, settings_post(clinic, phone="+16175550999")).status_code == 403
    assert client.get(reverse("dashboard:clinic_admin")).status_code == 403
    clinic.refresh_from_db()
    assert (clinic.phone, Membership.objects.count(), User.objects.count()) == before
    assert Membership.objects.filter(pk=target.pk).exists()


def test_a_manager_of_clinic_a_gets_404_for_clinic_b(manager_client, other_clinic):
    other_member = membership(staff(other_clinic, Role.NURSE), other_clinic)
    TOTPDevice.objects.create(user=other_member.user, name="phone", confirmed=True)
    before_phone = other_clinic.phone
    for url in every_page(other_clinic, other_member):
        assert manager_client.get(url).status_code in (404, 405), url
        response = manager_client.post(
            url,
            {
                **settings_post(other_clinic, phone="+16175550999"),
                "email": "intruder@example.org",
                "first_name": "In",
                "last_name": "Truder",
                "role": Role.MANAGER,
            },
        )
        assert response.status_code == 404, url
    other_clinic.refresh_from_db()
    assert other_clinic.phone == before_phone
    other_member.refresh_from_db()
    assert other_member.role == Role.NURSE
    assert TOTPDevice.objects.filter(user=other_member.user).exists()
    assert not User.objects.filter(email="intruder@example.org").exists()
    assert mail.outbox == []


def test_another_clinics_membership_id_under_my_clinic_is_404(manager_client, clinic, other_clinic):
    """The membership is looked up inside the clinic in the URL, not by id alone."""
    other_member = membership(staff(other_clinic, Role.NURSE), other_clinic)
    for name in ("staff_member", "staff_deactivate", "staff_two_factor_reset"):
        url = reverse(f"dashboard:{name}", args=[clinic.pk, other_member.pk])
        assert manager_client.post(url, {"role": Role.MANAGER}).status_code == 404
    assert Membership.objects.filter(pk=other_member.pk, role=Role.NURSE).exists()


def test_nav_shows_the_clinic_link_to_managers_only(as_user, manager, nurse):
    link = f'href="{reverse("dashboard:clinic_admin")}"'
    assert link in as_user(manager).get(reverse("dashboard:board")).content.decode()
    assert link not in as_user(nurse).get(reverse("dashboard:board")).content.decode()


def test_home_redirects_a_manager_of_one_clinic(manager_client, clinic):
    response = manager_client.get(reverse("dashboard:clinic_admin"))
    assert response.status_code == 302
    assert response["Location"] == settings_url(clinic)


def test_home_lists_every_clinic_a_manager_manages(as_user, manager, clinic, other_clinic):
    Membership.objects.create(user=manager, clinic=other_clinic, role=Role.MANAGER)
    page = as_user(manager).get(reverse("dashboard:clinic_admin")).content.decode()
    assert clinic.name in page and other_clinic.name in page


# --------------------------------------------------------------------------- settings


def test_manager_changes_hours_and_phones_and_it_is_audited(manager_client, manager, clinic):
    assert manager_client.get(settings_url(clinic)).status_code == 200
    response = manager_client.post(
        settings_url(clinic),
        settings_post(
            clinic,
            phone="(617) 555-0142",
            after_hours_phone="+1 617 555 0199",
            working_days=["0", "1", "2", "3"],
            day_starts="08:30",
            day_ends="16:00",
        ),
    )
    assert response.status_code == 302
    clinic.refresh_from_db()
    assert clinic.phone == "+16175550142"
    assert clinic.after_hours_phone == "+16175550199"
    assert clinic.working_days == "0123"
    assert clinic.day_starts == dt.time(8, 30) and clinic.day_ends == dt.time(16, 0)
    [entry] = [e for e in audit_for(clinic, "Clinic") if e.change == "changed"]
    assert entry.username == manager.username
    assert {"phone", "after_hours_phone", "working_days", "day_starts", "day_ends"} <= set(
        entry.fields
    )


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"day_starts": "17:00", "day_ends": "09:00"}, "day_ends", "close after it opens"),
        ({"default_refill_margin_days": "2"}, "default_refill_margin_days", "greater than"),
        ({"phone": "not a number"}, "phone", ""),
        ({"working_days": []}, "working_days", "at least one working day"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", ""),
    ],
)
def test_invalid_settings_are_refused_in_place(manager_client, clinic, changes, field, message):
    before = {
        name: getattr(clinic, name)
        for name in ("phone", "working_days", "day_starts", "day_ends", "timezone")
    }
    response = manager_client.post(settings_url(clinic), settings_post(clinic, **changes))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors.get(field), form.errors
    assert message in " ".join(form.errors[field])
    clinic.refresh_from_db()
    assert {name: getattr(clinic, name) for name in before} == before
    assert not [e for e in audit_for(clinic, "Clinic") if e.change == "changed"]


def test_a_wider_margin_moves_stored_refill_by_dates_at_once(manager_client, clinic, filled_pump):
    before = filled_pump.forecast.refill_by
    response = manager_client.post(
        settings_url(clinic), settings_post(clinic, default_refill_margin_days="14")
    )
    assert response.status_code == 302
    filled_pump.forecast.refresh_from_db()
    assert filled_pump.forecast.refill_by < before


# --------------------------------------------------------------------------- staff


def invite(client, clinic, **fields):
    data = {"email": "new.nurse@example.org", "role": Role.NURSE}
    data.update(fields)
    return client.post(staff_url(clinic), data)


def test_invite_creates_nothing_but_an_invitation_until_the_invitee_signs_up(
    client, manager_client, manager, clinic, patient
):
    """Changed on purpose (issue 9, attacker pass 2): no account at invite time; the
    invitee types their own name and password through the link, then joins."""
    users_before = User.objects.count()
    response = invite(manager_client, clinic, email="New.Nurse@Example.org")
    assert response.status_code == 302
    assert User.objects.count() == users_before
    [invitation] = StaffInvitation.objects.filter(clinic=clinic)
    assert (invitation.email, invitation.role) == ("new.nurse@example.org", Role.NURSE)
    [message] = mail.outbox
    assert message.to == ["new.nurse@example.org"]
    # No health data and no names.
    assert patient.family_name not in message.body and patient.given_name not in message.body
    assert manager.last_name not in message.body
    link = re.search(r"https?://\S+/accounts/invitations/link/\S+/", message.body)
    assert link, message.body
    client.logout()
    page = client.get(link.group(0))
    assert page.status_code == 200
    done = client.post(
        link.group(0),
        {
            "first_name": "Nia",
            "last_name": "Newnurse",
            "password": "a-Long-new-pass-42",
            "password_again": "a-Long-new-pass-42",
        },
    )
    assert done.status_code == 302
    # A nurse needs no second factor: the sign-up POST joined, and the browser lands on
    # the board (it used to follow a GET of the link that joined, and redirected).
    assert client.get(done["Location"]).status_code == 200
    user = User.objects.get(email="new.nurse@example.org")
    assert user.check_password("a-Long-new-pass-42") and user.get_full_name() == "Nia Newnurse"
    assert membership(user, clinic).role == Role.NURSE
    # The link worked once.
    client.logout()
    assert client.get(link.group(0)).status_code == 410
    [entry] = [
        e for e in audit_for(clinic, "Membership") if e.object_id == membership(user, clinic).pk
    ]
    assert entry.change == "created" and "role" in entry.fields
    [sent, accepted] = audit_for(clinic, "Staff invitation")
    assert (sent.change, sent.username) == ("created", manager.username)
    assert (accepted.change, accepted.username, accepted.user_id) == (
        "accepted",
        "the invitee",
        None,
    )


def test_inviting_someone_from_another_clinic_waits_for_their_acceptance(
    manager_client, clinic, other_clinic
):
    """Changed on purpose (issue 9, attack #1): no membership until the owner accepts."""
    colleague = staff(other_clinic, Role.PHYSICIAN)
    response = invite(manager_client, clinic, email=colleague.email.upper(), role=Role.SCHEDULER)
    assert response.status_code == 302
    colleague.refresh_from_db()
    assert colleague.check_password("correct horse battery")
    assert not Membership.objects.filter(user=colleague, clinic=clinic).exists()
    assert membership(colleague, other_clinic).role == Role.PHYSICIAN
    [message] = mail.outbox
    assert message.to == [colleague.email.lower()]
    assert "password-reset" not in message.body
    assert "/accounts/invitations/link/" in message.body


def test_inviting_a_member_again_is_refused(manager_client, clinic, nurse):
    response = invite(manager_client, clinic, email=nurse.email)
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["email"])
    assert "already on the staff" in errors and nurse.email in errors
    assert mail.outbox == []


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"email": "not-an-address"}, "email"),
        ({"role": "superuser"}, "role"),
        ({"email": ""}, "email"),
    ],
)
def test_invalid_invitations_save_nothing(manager_client, clinic, fields, field):
    before = (User.objects.count(), Membership.objects.count(), StaffInvitation.objects.count())
    response = invite(manager_client, clinic, **fields)
    assert response.status_code == 200
    assert response.context["form"].errors.get(field)
    after = (User.objects.count(), Membership.objects.count(), StaffInvitation.objects.count())
    assert after == before
    assert mail.outbox == []


def test_an_email_that_cannot_be_sent_saves_nothing(manager_client, clinic, settings):
    settings.EMAIL_BACKEND = "tests.dashboard.test_clinic_admin.FailingBackend"
    before = (User.objects.count(), Membership.objects.count(), StaffInvitation.objects.count())
    response = invite(manager_client, clinic)
    assert response.status_code == 200
    assert "could not be sent" in " ".join(response.context["form"].non_field_errors())
    after = (User.objects.count(), Membership.objects.count(), StaffInvitation.objects.count())
    assert after == before


def test_a_reset_whose_email_cannot_be_sent_changes_nothing(
    manager_client, clinic, physician, settings
):
    settings.EMAIL_BACKEND = "tests.dashboard.test_clinic_admin.FailingBackend"
    TOTPDevice.objects.create(user=physician, name="phone", confirmed=True)
    target = membership(physician, clinic)
    response = manager_client.post(member_url(clinic, target, "staff_two_factor_reset"))
    assert response.status_code == 302
    assert TOTPDevice.objects.filter(user=physician).exists()
    target.refresh_from_db()
    assert target.two_factor_reset_at is None


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("SMTP down")


def test_staff_list_shows_only_this_clinics_staff(manager_client, clinic, nurse, other_clinic):
    outsider = staff(other_clinic, Role.NURSE)
    page = manager_client.get(staff_url(clinic)).content.decode()
    assert nurse.username in page
    assert outsider.username not in page


def test_manager_changes_a_role_and_it_is_audited(manager_client, manager, clinic, nurse):
    target = membership(nurse, clinic)
    response = manager_client.post(
        member_url(clinic, target), {"role": Role.SCHEDULER, "receives_escalations": "on"}
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.role == Role.SCHEDULER and target.receives_escalations
    [entry] = [e for e in audit_for(clinic, "Membership") if e.change == "changed"]
    assert entry.username == manager.username
    assert set(entry.fields) == {"role", "receives_escalations"}


def test_a_manager_cannot_change_their_own_role(manager_client, manager, clinic):
    own = membership(manager, clinic)
    response = manager_client.post(member_url(clinic, own), {"role": Role.NURSE})
    assert response.status_code == 200
    assert "yourself" in str(response.content)
    own.refresh_from_db()
    assert own.role == Role.MANAGER


def test_deactivating_ends_access_to_this_clinic_only(
    as_user, manager, clinic, other_clinic, patient, other_patient
):
    both = staff(clinic, Role.NURSE)
    Membership.objects.create(user=both, clinic=other_clinic, role=Role.NURSE)
    target = membership(both, clinic)
    response = as_user(manager).post(member_url(clinic, target, "staff_deactivate"))
    assert response.status_code == 302
    assert not Membership.objects.filter(user=both, clinic=clinic).exists()
    both.refresh_from_db()
    assert both.is_active
    assert membership(both, other_clinic).role == Role.NURSE
    [entry] = [e for e in audit_for(clinic, "Membership") if e.change == "deleted"]
    assert entry.username == manager.username and entry.object_id == target.pk
    client = as_user(both)
    assert client.get(reverse("dashboard:patient", args=[patient.pk])).status_code == 404
    assert client.get(reverse("dashboard:patient", args=[other_patient.pk])).status_code == 200


def test_deactivating_someones_only_clinic_stops_their_sign_in(
    client, manager_client, clinic, nurse
):
    manager_client.post(member_url(clinic, membership(nurse, clinic), "staff_deactivate"))
    nurse.refresh_from_db()
    assert not nurse.is_active
    # A later invitation changes nothing by itself; its link lets the email's owner
    # choose a new password (the old one never works again) and join.
    invite(manager_client, clinic, email=nurse.email)
    nurse.refresh_from_db()
    assert not nurse.is_active
    assert not Membership.objects.filter(user=nurse, clinic=clinic).exists()
    [message] = mail.outbox
    link = re.search(r"https?://\S+/accounts/invitations/link/\S+/", message.body).group(0)
    client.logout()
    assert not password_signs_in(client, nurse, "correct horse battery")
    client.post(
        link,
        {
            "first_name": "Nora",
            "last_name": "Back",
            "password": "a-Long-new-pass-42",
            "password_again": "a-Long-new-pass-42",
        },
    )
    client.get(link)
    nurse.refresh_from_db()
    assert nurse.is_active and membership(nurse, clinic).role == Role.NURSE
    assert not password_signs_in(client, nurse, "correct horse battery")
    assert password_signs_in(client, nurse, "a-Long-new-pass-42")


def test_a_manager_cannot_remove_themselves(manager_client, manager, clinic):
    own = membership(manager, clinic)
    response = manager_client.post(member_url(clinic, own, "staff_deactivate"))
    assert response.status_code == 302
    assert Membership.objects.filter(pk=own.pk).exists()


def test_two_factor_reset_removes_devices_emails_and_is_audited(
    manager_client, manager, clinic, physician
):
    TOTPDevice.objects.create(user=physician, name="old phone", confirmed=True)
    TOTPDevice.objects.create(user=physician, name="half-enrolled", confirmed=False)
    target = membership(physician, clinic)
    response = manager_client.post(member_url(clinic, target, "staff_two_factor_reset"))
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=physician).exists()
    target.refresh_from_db()
    assert target.two_factor_reset_at is not None
    [message] = mail.outbox
    assert message.to == [physician.email] and "two-factor" in message.subject
    [entry] = [e for e in audit_for(clinic, "Membership") if e.change == "changed"]
    assert entry.username == manager.username and entry.fields == ("two_factor_reset_at",)


def test_after_a_reset_the_member_must_sign_in_again(as_user, manager, clinic, physician):
    """Their verified session ends (the password changed): the next page is the sign-in."""
    physician_client = as_user(physician)
    assert physician_client.get(reverse("dashboard:board")).status_code == 200
    staff_services.staff_two_factor_reset(
        membership=membership(physician, clinic), by=manager, base_url="http://testserver/"
    )
    response = physician_client.get(reverse("dashboard:board"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_a_platform_operators_two_factor_is_not_a_clinics_to_reset(manager, clinic):
    operator = User.objects.create_superuser("operator", "op@example.org", "unused-pass-123")
    member = Membership.objects.create(user=operator, clinic=clinic, role=Role.NURSE)
    TOTPDevice.objects.create(user=operator, name="key", confirmed=True)
    with pytest.raises(PermissionDenied):
        staff_services.staff_two_factor_reset(
            membership=member, by=manager, base_url="http://testserver/"
        )
    assert TOTPDevice.objects.filter(user=operator).exists()


def test_services_refuse_a_non_manager_even_without_the_view(nurse, clinic, physician):
    target = membership(physician, clinic)
    with pytest.raises(PermissionDenied):
        staff_services.membership_update(
            membership=target, by=nurse, role=Role.MANAGER, receives_escalations=True
        )
    with pytest.raises(PermissionDenied):
        staff_services.membership_deactivate(membership=target, by=nurse)
    with pytest.raises(PermissionDenied):
        staff_services.staff_invite(
            clinic=clinic,
            by=nurse,
            email="x@example.org",
            role=Role.MANAGER,
            base_url="http://testserver/",
        )


# --------------------------------------------------------------------------- templates


def test_a_manager_cannot_edit_the_all_clinics_default_template(manager):
    from reminders.services import message_template_save

    default = MessageTemplate(clinic=None, kind="booking-confirmation", channel="sms", body="Hi")
    with pytest.raises(PermissionDenied):
        message_template_save(template=default, by=manager)


def test_a_clinic_template_change_is_in_the_audit_trail(manager_client, manager, clinic):
    url = reverse("reminders:template_edit", args=[clinic.pk, "booking-confirmation", "sms"])
    response = manager_client.get(url)
    body = response.context["form"].initial["body"]
    assert manager_client.post(url, {"body": body + " See you soon."}).status_code == 302
    [entry] = audit_for(clinic, "Message template")
    assert entry.change == "created" and entry.username == manager.username


# --------------------------------------------------------------------------- invariant

ZONES = ["America/New_York", "America/Los_Angeles", "Pacific/Kiritimati", "Pacific/Pago_Pago"]


# The same clinic and pump across examples on purpose: each change starts from the last.
@hypothesis_settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(margin=st.integers(min_value=3, max_value=30), zone=st.sampled_from(ZONES))
def test_after_any_settings_change_the_stored_refill_by_keeps_the_clinic_margin(
    filled_pump, manager, margin, zone
):
    """Whatever margin and zone a manager sets, the stored refill-by date is at least
    `margin` days before the conservative alarm date in the clinic's (new) zone."""
    from django.utils import timezone

    from accounts.services import clinic_settings_update

    clinic = filled_pump.patient.clinic
    clinic_settings_update(
        clinic=clinic, by=manager, default_refill_margin_days=margin, timezone=zone
    )
    forecast = type(filled_pump.forecast).objects.get(pk=filled_pump.pk)
    alarm_day = timezone.localtime(forecast.conservative_alarm_at, clinic.tz).date()
    assert forecast.refill_by <= alarm_day - dt.timedelta(days=margin)
