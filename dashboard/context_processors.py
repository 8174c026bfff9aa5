"""What every staff page shows: open CRITICAL alerts, a stale-sweep banner, the nav's links.

Only for a session that has completed sign-in (accounts.two_factor.sign_in_complete).
"""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from accounts import two_factor
from accounts.access import PERMISSIONS
from accounts.models import Membership
from reminders import selectors as reminder_selectors


def _can_register_patients(user) -> bool:
    return Membership.objects.filter(user=user, role__in=PERMISSIONS["edit_patient"]).exists()


def staff_banners(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if not two_factor.sign_in_complete(request):
        # Past the password only: nothing clinical, not even a count, until the
        # second factor is done (the set-up and verify pages extend base.html).
        return {"sign_in_complete": False}
    stale = reminder_selectors.sweep_is_stale()
    return {
        "sign_in_complete": True,
        # Evaluated once, and only where a "New patient" link is drawn (1 query).
        "can_register_patients": SimpleLazyObject(lambda: _can_register_patients(user)),
        "critical_alerts": reminder_selectors.critical_alerts_for(user),
        # Evaluated where the nav draws its badge (1 query).
        "open_alert_counts": SimpleLazyObject(lambda: reminder_selectors.open_alert_counts(user)),
        "sweep_stale": stale,
        "last_sweep_at": reminder_selectors.last_sweep_at() if stale else None,
    }
