"""{% lockout_minutes as minutes %}: the sign-in lock-out's length, from the axes settings."""

from django import template

from accounts import sign_in

register = template.Library()


@register.simple_tag
def lockout_minutes() -> int:
    return sign_in.lockout_minutes()
