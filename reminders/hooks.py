"""What reminders does after refills stores a forecast.

refills.services.forecast_refresh sends refills.signals.forecast_stored in its
transaction, and reminders/receivers.py calls `forecast_stored` here, for every
change that moves a forecast (refill, program, appointment, report) and for every
pump whose reassess moment came (the sweep). So alert rules, reminder plans and
"please book" nudges are evaluated exactly for the pumps that changed or whose
time came, never for every patient.

Time alone switches some rules on (the alarm within 3 days; the unbooked and
device-life rules switch with the risk tier, at PumpForecast.reassess_at). The
next such instant is stored in PumpWatch; the sweep refreshes the pump then,
just as it does at PumpForecast.reassess_at.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging

from django.db import transaction

from patients.models import Pump, PumpStatus
from refills.models import PumpForecast
from refills.services import forecast_refresh
from reminders import conf
from reminders.alerts import alerts_sync
from reminders.loading import history_loading
from reminders.models import PumpWatch
from reminders.plans import nudges_sync, plans_sync_for_pump

logger = logging.getLogger(__name__)

_patient_messages_paused = contextvars.ContextVar("patient_messages_paused", default=False)


@contextlib.contextmanager
def patient_messages_paused():
    """Build a history without writing patient messages about its intermediate states.

    For loading past records in one go (the demo's years of refills): each
    back-dated refill would otherwise be reviewed at the real "now" and queue a
    nudge about a refill-by date long gone. Staff alerts still follow every step.
    The caller must refresh every pump it touched afterwards (forecast_refresh),
    which writes the messages the final state calls for.
    """
    token = _patient_messages_paused.set(True)
    try:
        with history_loading():
            yield
    finally:
        _patient_messages_paused.reset(token)


_reviews_paused = contextvars.ContextVar("reviews_paused", default=False)


@contextlib.contextmanager
def reviews_paused():
    """Store forecasts without reviewing them: for loading a whole history in one go.

    Stronger than patient_messages_paused: staff alerts wait too, since each back-dated
    step would raise and clear alerts stamped with the real "now" (the demo's years of
    refills). The caller must refresh every pump it touched afterwards
    (forecast_refresh), which reviews the final state: its alerts and messages.
    """
    token = _reviews_paused.set(True)
    try:
        with history_loading():
            yield
    finally:
        _reviews_paused.reset(token)


def pump_review(*, forecast: PumpForecast, now: dt.datetime) -> dt.datetime | None:
    """Sync this pump's plans, alerts and nudges; return when a rule next switches on."""
    pump = Pump.objects.select_related("model", "patient__clinic").get(pk=forecast.pk)
    cache: dict = {}
    paused = _patient_messages_paused.get()
    if not paused:
        plans_sync_for_pump(pump=pump, now=now, cache=cache)
    thresholds = alerts_sync(forecast=forecast, pump=pump, now=now)
    if paused:
        return now  # reviewed again by the caller's refresh, or by the next sweep
    thresholds += nudges_sync(forecast=forecast, pump=pump, now=now, cache=cache)
    future = [moment for moment in thresholds if moment > now]
    return min(future) if future else None


def forecast_stored(*, forecast: PumpForecast, now: dt.datetime) -> None:
    """Never breaks the clinical write that called it: a failure is retried by the sweep."""
    if _reviews_paused.get():
        return
    try:
        with transaction.atomic():
            wake = pump_review(forecast=forecast, now=now)
    except Exception:
        logger.exception("reminders review of pump %s failed; the sweep retries it", forecast.pk)
        wake = now + conf.sweep_interval()
    # Time-based alert and nudge rules: bring the sweep back when the next one switches on.
    PumpWatch.objects.update_or_create(pump_id=forecast.pk, defaults={"next_review_at": wake})


def pumps_review_due(*, now: dt.datetime, limit: int) -> int:
    """Refresh the pumps whose next alert or nudge moment came (the hook runs for each)."""
    due = list(
        PumpWatch.objects.filter(next_review_at__lte=now, pump__status=PumpStatus.ACTIVE)
        .order_by("next_review_at")
        .values_list("pump_id", flat=True)[:limit]
    )
    for pump_id in due:
        with transaction.atomic():
            forecast_refresh(pump=Pump(pk=pump_id), now=now)
    return len(due)
