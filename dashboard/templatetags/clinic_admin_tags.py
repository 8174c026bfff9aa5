"""{% manages_a_clinic user as flag %}: whether the nav shows the "Clinic" link."""

from django import template

from accounts.access import clinics_where

register = template.Library()


@register.simple_tag
def manages_a_clinic(user) -> bool:
    return bool(user.is_authenticated and clinics_where(user, "manage_clinic").exists())
