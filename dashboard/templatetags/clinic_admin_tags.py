"""{% manages_a_clinic user as flag %}: whether the nav shows the "Clinic" link."""

from django import template

from accounts import selectors
from accounts.access import clinics_where

register = template.Library()


@register.simple_tag
def manages_a_clinic(user) -> bool:
    return bool(user.is_authenticated and clinics_where(user, "manage_clinic").exists())


@register.simple_tag
def role_summary(user) -> str:
    """{% role_summary user as roles %}: the user's role(s) for the menu."""
    return selectors.role_summary(user=user) if user.is_authenticated else ""
