"""The one access gate: every staff view reaches clinical rows through here.

Rows are scoped by the clinics the user is a member of. A row from another
clinic is indistinguishable from a missing one (404), so ids leak nothing.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Membership, Role, User
from patients.models import Clinic, Patient


def clinics_for(user: User) -> QuerySet[Clinic]:
    if not user.is_authenticated:
        return Clinic.objects.none()
    return Clinic.objects.filter(memberships__user=user).distinct()


def patients_for(user: User) -> QuerySet[Patient]:
    if not user.is_authenticated:
        return Patient.objects.none()
    return Patient.objects.filter(clinic__memberships__user=user)


def patient_for(user: User, patient_id: int) -> Patient:
    """The patient if the user works at the patient's clinic, else 404."""
    try:
        return patients_for(user).select_related("clinic").get(pk=patient_id)
    except (Patient.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such patient") from exc


def scoped(user: User, queryset: QuerySet, clinic_path: str) -> QuerySet:
    """Restrict a queryset to the user's clinics through `clinic_path`.

    For example `scoped(user, Refill.objects.all(), "pump__patient__clinic")`.
    """
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{f"{clinic_path}__memberships__user": user})


def get_scoped(user: User, queryset: QuerySet, clinic_path: str, pk):
    try:
        return scoped(user, queryset, clinic_path).get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Not found") from exc


def clinic_for(user: User, clinic_id: int) -> Clinic:
    """One of the user's clinics, else 404 (another clinic's id looks like a missing one)."""
    try:
        return clinics_for(user).get(pk=clinic_id)
    except (Clinic.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such clinic") from exc


def clinics_where(user: User, action: str) -> QuerySet[Clinic]:
    """The user's clinics where their role there allows `action` (one membership, one join)."""
    if not user.is_authenticated:
        return Clinic.objects.none()
    return (
        Clinic.objects.filter(memberships__user=user, memberships__role__in=PERMISSIONS[action])
        .distinct()
        .order_by("name")
    )


def role_in(user: User, clinic: Clinic) -> str | None:
    return (
        Membership.objects.filter(user=user, clinic=clinic).values_list("role", flat=True).first()
    )


def has_role(user: User, clinic: Clinic, *roles: str) -> bool:
    return Membership.objects.filter(user=user, clinic=clinic, role__in=roles).exists()


# Who may do what. The README's permission matrix is generated from this table.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view_clinical": frozenset(
        {Role.NURSE, Role.PHYSICIAN, Role.SCHEDULER, Role.MANAGER, Role.AUDITOR}
    ),
    "record_refill": frozenset({Role.NURSE, Role.PHYSICIAN}),
    "change_program": frozenset({Role.NURSE, Role.PHYSICIAN}),
    "physician_override": frozenset({Role.PHYSICIAN}),
    "manage_appointments": frozenset({Role.NURSE, Role.PHYSICIAN, Role.SCHEDULER}),
    "edit_patient": frozenset({Role.NURSE, Role.PHYSICIAN, Role.SCHEDULER}),
    "record_report": frozenset({Role.NURSE, Role.PHYSICIAN}),
    # Implant, replace, alarm volume, ERI: clinical facts the forecast is built on.
    "manage_pump": frozenset({Role.NURSE, Role.PHYSICIAN}),
    "act_on_alerts": frozenset({Role.NURSE, Role.PHYSICIAN, Role.SCHEDULER, Role.MANAGER}),
    "edit_templates": frozenset({Role.MANAGER}),
    "view_reports": frozenset({Role.MANAGER, Role.PHYSICIAN, Role.AUDITOR}),
    # The audit trail: read by the roles that see reports; its CSV export (staff names and
    # activity leaving the system) stays with managers and auditors.
    "view_audit": frozenset({Role.MANAGER, Role.PHYSICIAN, Role.AUDITOR}),
    "export_audit": frozenset({Role.AUDITOR, Role.MANAGER}),
    # Clinic administration: hours, phones, time zone, margin; staff invites, roles,
    # deactivation and 2FA resets (dashboard/clinic_admin_views.py).
    "manage_clinic": frozenset({Role.MANAGER}),
}


def allowed_actions(user: User, clinic: Clinic) -> frozenset[str]:
    """Every action of PERMISSIONS the user may take at the clinic (1 query)."""
    role = role_in(user, clinic)
    if role is None:
        return frozenset()
    return frozenset(action for action, roles in PERMISSIONS.items() if role in roles)


def can(user: User, action: str, clinic: Clinic) -> bool:
    role = role_in(user, clinic)
    return role is not None and role in PERMISSIONS[action]
