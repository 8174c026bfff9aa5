"""What every staff page shows: open CRITICAL alerts, a stale-sweep banner, the nav's links."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from accounts.access import PERMISSIONS
from accounts.models import Membership

from . import alerts as alert_source


def _can_register_patients(user) -> bool:
    return Membership.objects.filter(user=user, role__in=PERMISSIONS["edit_patient"]).exists()


def staff_banners(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    stale = alert_source.sweep_is_stale()
    return {
        # Evaluated once, and only where a "New patient" link is drawn (1 query).
        "can_register_patients": SimpleLazyObject(lambda: _can_register_patients(user)),
        "critical_alerts": alert_source.critical_alerts_for(user),
        "sweep_stale": stale,
        "last_sweep_at": alert_source.last_sweep_at() if stale else None,
    }
