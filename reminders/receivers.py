"""How reminders follows the writes of the apps below it: their signals, its actions.

Connected in RemindersConfig.ready(). refills' receivers of the same patients signals were
connected first (INSTALLED_APPS order), so a pump's alerts are closed here after refills'
last forecast refresh of it. Each runs inside the sending service's transaction.
"""

from __future__ import annotations

from django.db.models import Q

from patients import signals as patient_signals
from patients.models import Caregiver, Pump
from refills import signals as refill_signals
from refills.models import PumpForecast
from reminders import hooks
from reminders.alerts import alerts_close_for_pump
from reminders.models import Notification
from reminders.status_history import cancel_pending


def review_after_forecast_stored(*, forecast: PumpForecast, now, **_) -> None:
    hooks.forecast_stored(forecast=forecast, now=now)


def withdraw_a_removed_caregivers_messages(*, caregiver: Caregiver, **_) -> None:
    """Notification.caregiver is SET_NULL on delete, and a row without a caregiver is
    addressed to the patient: cancel the caregiver's pending rows before the delete so
    that none of them is re-routed."""
    cancel_pending(
        Notification.objects.filter(caregiver=caregiver),
        reason="The caregiver was removed from the patient's record",
    )


def close_the_replaced_pumps_alerts(*, old: Pump, by, note: str, **_) -> None:
    """A discrepancy or a pocket fill at the old pump's last refill no longer describes the
    pump the patient has, and would otherwise keep escalating."""
    alerts_close_for_pump(pump=old, by=by, note=note)


def stop_messages_and_alerts_of_an_unreplaced_pump(*, pump: Pump, by, note: str, **_) -> None:
    """The reminders of the cancelled visits went with refills' forecast refresh; the rest of
    the pump's unsent messages go too (a "you missed your refill" text, a "please book"
    nudge), as do its open alerts."""
    cancel_pending(
        Notification.objects.filter(
            Q(appointment__pump=pump) | Q(key__startswith=f"pump:{pump.pk}:")
        ),
        reason="The pump was explanted and not replaced",
    )
    alerts_close_for_pump(pump=pump, by=by, note=note)


def connect() -> None:
    """Called once by RemindersConfig.ready(); dispatch_uid keeps a second call harmless."""
    for signal, receiver in (
        (refill_signals.forecast_stored, review_after_forecast_stored),
        (patient_signals.caregiver_removing, withdraw_a_removed_caregivers_messages),
        (patient_signals.pump_replaced, close_the_replaced_pumps_alerts),
        (
            patient_signals.pump_explanted_without_replacement,
            stop_messages_and_alerts_of_an_unreplaced_pump,
        ),
    ):
        signal.connect(receiver, dispatch_uid=f"reminders.receivers.{receiver.__name__}")
