"""Withdrawal-risk tier for one pump (domain.md §8).

Pure Python on purpose: no Django, no clock. The caller passes ``now`` and the
forecast; ``assess`` returns the tier, every rule that fired (so staff see why),
and ``reassess_at``, the next moment at which time alone changes the answer.

No published ITB withdrawal-risk score exists; these rules are the project's
design choice, and every threshold lives in ``RiskPolicy`` so clinics can tune it.

Decisions callers must know:

- Time thresholds are exact instants: "DTA <= 14 days" fires at
  ``conservative_alarm_at - 14 days`` of real time, not at a day boundary.
- A booked refill appointment keeps counting until its calendar day (in the
  clinic zone) ends. After that, with no refill recorded, it is treated as a
  missed appointment ("appointment-passed", HIGH) and as no booking at all.
- "Booked before the target" means the appointment's calendar date is on or
  before ``refill_by``. Margins compare calendar dates, as staff do.
- ``transport_barrier`` widens the margin only; the "two or more other risk
  factors" rule counts ``other_risk_factors`` (which should name the transport
  barrier itself when present, as ``Patient.other_risk_factors`` does).
- ``oral_bridge`` is accepted and deliberately ignored: an oral prescription
  never lowers the tier (domain §5, §8).
- A replacement counts as planned only when one of ``replacement_dates`` falls
  between today and the end of service (domain §7.1 #9): a date after the end of
  service, or one that has passed with the pump still in place, is not a plan,
  and says so as a reason of its own. A plan less than
  ``replacement_min_days_before_eos`` before the end of service is a warning
  (MODERATE); end of service within ``eos_prompt_days`` with no plan is the
  ~6-month prompt (MODERATE), within ``eos_critical_days`` it is CRITICAL.
- The clinic work-queue point (``unbooked_moderate_dta_days``, §8 "DTA <= 21 days
  with no appointment") also opens when the refill-by date itself is that close,
  so a refill-by date set by drug stability, a replacement or end of service
  long before the alarm is never passed in silence; a refill-by date that has
  passed with nothing booked before it is HIGH.
- Unbooked with the conservative alarm more than ``unbooked_moderate_dta_days``
  away is LOW ("not-yet-due"): §8 defines LOW only for booked patients, but
  calling every freshly refilled patient MODERATE would drown the real ones.
  Between that and ``unbooked_high_dta_days`` it is MODERATE.
"""

from refills.risk.assessment import assess, assess_at
from refills.risk.model import (
    DEFAULT_POLICY,
    Assessment,
    Reason,
    ReasonCode,
    RiskInputs,
    RiskPolicy,
    Tier,
)
from refills.risk.replacement import ReplacementPlan, replacement_date_warning, replacement_plan

__all__ = [
    "Assessment",
    "DEFAULT_POLICY",
    "Reason",
    "ReasonCode",
    "ReplacementPlan",
    "RiskInputs",
    "RiskPolicy",
    "Tier",
    "assess",
    "assess_at",
    "replacement_date_warning",
    "replacement_plan",
]
