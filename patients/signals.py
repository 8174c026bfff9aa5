"""What happens to patients, caregivers, pumps and clinics that the apps above must act on.

patients sits at the bottom of the layers (design.md, "Layers, one way"): it never
imports refills or reminders, not even inside a function. When one of its writes must
make them act (recompute a forecast, move or cancel visits, withdraw reminders, close
alerts), patients.services sends one of these signals inside the write's own
transaction, and the higher apps connect their receivers in AppConfig.ready()
(refills/receivers.py, reminders/receivers.py).

Sent with send(), not send_robust(): a receiver that fails rolls the whole write back,
so nothing is saved half way. Receivers run in the order they were connected, which is
INSTALLED_APPS order: refills before reminders, so reminders closes a pump's alerts after
refills' last forecast refresh of it (which reviews the pump's alerts too).
"""

from django.dispatch import Signal

# patient_update saved a patient. Arguments: patient, changed (frozenset of field names).
patient_updated = Signal()

# caregiver_remove is about to delete a caregiver: sent before the delete, so receivers
# still find what points at them. Arguments: caregiver.
caregiver_removing = Signal()

# pump_implant put a new pump in place of an active one, which it has just marked
# explanted. Sent before pump_implanted. Arguments: old, new (pumps), by (the user who
# recorded it, or None), note (why, for whatever is closed because of it).
pump_replaced = Signal()

# pump_implant saved a new active pump (and sent pump_replaced first if it replaces one).
# Arguments: pump.
pump_implanted = Signal()

# pump_update changed a pump's ERI, planned replacement or alarm volume.
# Arguments: pump, changed (frozenset of field names).
pump_updated = Signal()

# pump_explant_without_replacement marked a pump explanted with nothing in its place:
# tracking stops. Arguments: pump, by, note (the reason, for whatever is closed because
# of it). Receivers return a list of the appointments they cancelled (or None); the
# service returns them all.
pump_explanted_without_replacement = Signal()

# clinic_settings_save changed a clinic's settings.
# Arguments: clinic, changed (frozenset of field names).
clinic_settings_changed = Signal()

# clinic_closure_add or clinic_closure_remove changed the days a clinic is closed.
# Arguments: clinic, first_day, last_day (the days added or removed).
clinic_closures_changed = Signal()
