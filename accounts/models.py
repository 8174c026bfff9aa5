"""Staff users and their clinic memberships.

A user may work for several clinics with a different role in each; every
staff page and query is scoped through these memberships.
"""

from django.contrib.auth.models import AbstractUser
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField
from simple_history.models import HistoricalRecords


class Role(models.TextChoices):
    NURSE = "nurse", "Nurse"
    PHYSICIAN = "physician", "Physician"
    SCHEDULER = "scheduler", "Scheduler"
    MANAGER = "manager", "Clinic manager"
    AUDITOR = "auditor", "Auditor"


class User(AbstractUser):
    """Custom from the first migration so fields can be added without pain later."""

    # Saved as E.164 when it is a valid number, else as entered (older rows were free
    # text); escalation texts read it through patients.phones.normalize_phone.
    phone = PhoneNumberField(max_length=20, blank=True, help_text="For escalation texts.")
    # When the owner was last emailed about a wrong two-factor code after a right
    # password (accounts.devices.device_wrong_code_notice): at most one per interval.
    two_factor_notice_at = models.DateTimeField(null=True, blank=True, editable=False)

    def role_in(self, clinic) -> str | None:
        membership = self.memberships.filter(clinic=clinic).first()
        return membership.role if membership else None

    def has_role(self, clinic, *roles: str) -> bool:
        return self.memberships.filter(clinic=clinic, role__in=roles).exists()


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    clinic = models.ForeignKey(
        "patients.Clinic", on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    receives_escalations = models.BooleanField(
        default=False, help_text="Receives unacknowledged HIGH and CRITICAL alerts."
    )
    # Set when a manager of this clinic resets the member's two-factor sign-in, so the
    # reset is a change in this clinic's audit trail (with who did it).
    two_factor_reset_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Granted, role changed, 2FA reset, deactivated (removed): each is a history row
    # with the acting user, read by reports/audit.py.
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="one_role_per_user_and_clinic")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.clinic}"


class StaffInvitation(models.Model):
    """A clinic's offer of a role to an email address, with or without an account.

    The only thing an invitation creates: no account and no Membership until the
    address's owner accepts, through the signed one-time link in the email
    (accounts.services.invitation_token). Without an account they create it there,
    with their own name and password (and two-factor set-up where the role requires
    it); with one they answer fully signed in (password and second factor). A manager
    cannot attach, create or name anyone's account. Declined or expired offers do
    nothing. Addressed by email, so the inviting manager learns nothing about accounts.
    """

    clinic = models.ForeignKey(
        "patients.Clinic", on_delete=models.CASCADE, related_name="staff_invitations"
    )
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=20, choices=Role.choices)
    receives_escalations = models.BooleanField(default=False)
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, related_name="+", editable=False
    )
    created_at = models.DateTimeField(editable=False)
    expires_at = models.DateTimeField(editable=False)
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)
    declined_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Cancelled when the manager invites the same address again (a new offer replaces it).
    withdrawn_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The account that accepted or declined.
    answered_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )

    # Sent, accepted, declined, withdrawn: history rows with the acting user (audit trail).
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation to {self.clinic} as {self.get_role_display()}"

    def is_open(self, now) -> bool:
        return (
            self.accepted_at is None
            and self.declined_at is None
            and self.withdrawn_at is None
            and self.expires_at > now
        )


class EnrolmentCode(models.Model):
    """A one-time code emailed to the account's address before its first authenticator
    is enrolled (accounts/enrolment.py), so the password alone cannot enrol one.

    Only an HMAC of the code is stored (keyed with SECRET_KEY and bound to a nonce kept
    in the requesting session): a database reader learns nothing, and a code typed in
    another session does not match.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="enrolment_codes")
    code_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(editable=False)
    expires_at = models.DateTimeField(editable=False)
    failed_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    # Set when the code was accepted, or when a newer code of the same session replaced it.
    used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="enrolment_code_user_created")]

    def __str__(self) -> str:
        return f"Enrolment code {self.pk} of user {self.user_id}"
