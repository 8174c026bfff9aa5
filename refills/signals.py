"""What happens in refills that the apps above must act on.

refills never imports reminders (design.md, "Layers, one way"): it announces its
events here and reminders connects to them in RemindersConfig.ready()
(reminders/receivers.py).
"""

from django.dispatch import Signal

# forecast_refresh stored a pump's forecast, inside its transaction: for every change that
# moves a forecast (refill, program, appointment, report, patient, pump or clinic settings)
# and for every pump whose reassess moment came (the sweep). Sent with send(): receivers
# must not break the clinical write (reminders.hooks.forecast_stored catches its own
# failures and leaves them to the sweep). Arguments: forecast (PumpForecast), now.
forecast_stored = Signal()
