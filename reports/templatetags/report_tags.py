"""{% sees_reports user as flag %}: whether the nav shows the "Reports" link."""

from django import template

from accounts.access import clinics_where

register = template.Library()


@register.simple_tag
def sees_reports(user) -> bool:
    return bool(user.is_authenticated and clinics_where(user, "view_reports").exists())


@register.filter
def is_patient(value) -> bool:
    """Whether a report cell names a patient (drawn as a link to the patient's page)."""
    return hasattr(value, "patient_id") and hasattr(value, "name")
