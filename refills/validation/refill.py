"""Checks on a refill entry: volumes, time, bridge bolus, lot, needle, discrepancy, dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from refills.forecast import PostFillCheck
from refills.validation.dates import day_text
from refills.validation.findings import Finding, _error, _warning, fmt

# Default of PUMPTRACK_POLICY FILL_TOLERANCE_ML (domain.md §7.2 #6, design choice): the
# programmed volume may differ this much from what was left plus what was added.
FILL_TOLERANCE_ML = Decimal("0.5")
FUTURE_SLACK = dt.timedelta(minutes=5)


def check_refill_volumes(
    *,
    capacity_ml: Decimal,
    actual_residual_ml: Decimal | None,
    residual_left_ml: Decimal,
    volume_added_ml: Decimal | None,
    resulting_volume_ml: Decimal | None,
    fill_tolerance_ml: Decimal = FILL_TOLERANCE_ML,
) -> list[Finding]:
    """Volumes at a refill (domain.md §7.2 #6): no overfill, no impossible numbers."""
    return [
        *_residual_findings(
            capacity_ml=capacity_ml,
            actual_residual_ml=actual_residual_ml,
            residual_left_ml=residual_left_ml,
        ),
        *_added_volume_findings(
            capacity_ml=capacity_ml,
            residual_left_ml=residual_left_ml,
            volume_added_ml=volume_added_ml,
        ),
        *_resulting_volume_findings(
            capacity_ml=capacity_ml,
            residual_left_ml=residual_left_ml,
            volume_added_ml=volume_added_ml,
            resulting_volume_ml=resulting_volume_ml,
            fill_tolerance_ml=fill_tolerance_ml,
        ),
    ]


def _residual_findings(
    *, capacity_ml: Decimal, actual_residual_ml: Decimal | None, residual_left_ml: Decimal
) -> list[Finding]:
    """What was aspirated and what was left in the pump, each and together."""
    findings: list[Finding] = []
    cap = fmt(capacity_ml)
    if actual_residual_ml is None:
        findings.append(_error("residual_missing", "actual_residual_ml", "Enter the residual."))
    elif actual_residual_ml < 0 or actual_residual_ml > capacity_ml:
        findings.append(
            _error(
                "residual_out_of_range",
                "actual_residual_ml",
                f"The residual aspirated must be between 0 and the reservoir capacity ({cap} mL).",
            )
        )
    if residual_left_ml < 0 or residual_left_ml > capacity_ml:
        findings.append(
            _error(
                "residual_left_out_of_range",
                "residual_left_ml",
                f"The volume left in the pump must be between 0 and {cap} mL.",
            )
        )
    # Together only when each is possible on its own: one message per mistake.
    if (
        not findings
        and actual_residual_ml is not None
        and actual_residual_ml + residual_left_ml > capacity_ml
    ):
        findings.append(
            _error(
                "residual_over_capacity",
                "actual_residual_ml",
                f"{fmt(actual_residual_ml)} mL aspirated plus {fmt(residual_left_ml)} mL left in "
                f"the pump is more than the {cap} mL reservoir holds. Check both volumes.",
            )
        )
    return findings


def _added_volume_findings(
    *, capacity_ml: Decimal, residual_left_ml: Decimal, volume_added_ml: Decimal | None
) -> list[Finding]:
    if volume_added_ml is None:
        return [_error("added_missing", "volume_added_ml", "Enter the volume added.")]
    if volume_added_ml <= 0:
        return [
            _error("added_not_positive", "volume_added_ml", "The volume added must be above 0 mL.")
        ]
    if volume_added_ml > capacity_ml - residual_left_ml:
        return [
            _error(
                "overfill",
                "volume_added_ml",
                f"Adding {fmt(volume_added_ml)} mL to {fmt(residual_left_ml)} mL left would "
                f"overfill the {fmt(capacity_ml)} mL reservoir. Do not overfill.",
            )
        ]
    return []


def _resulting_volume_findings(
    *,
    capacity_ml: Decimal,
    residual_left_ml: Decimal,
    volume_added_ml: Decimal | None,
    resulting_volume_ml: Decimal | None,
    fill_tolerance_ml: Decimal,
) -> list[Finding]:
    """The volume programmed into the pump: in range, and what was left plus what was added."""
    if resulting_volume_ml is None:
        return [_error("resulting_missing", "resulting_volume_ml", "Enter the programmed volume.")]
    if resulting_volume_ml <= 0 or resulting_volume_ml > capacity_ml:
        return [
            _error(
                "resulting_out_of_range",
                "resulting_volume_ml",
                "The programmed reservoir volume must be above 0 and at most "
                f"{fmt(capacity_ml)} mL.",
            )
        ]
    if volume_added_ml is None or volume_added_ml <= 0:
        return []
    in_pump = residual_left_ml + volume_added_ml
    if abs(resulting_volume_ml - in_pump) <= fill_tolerance_ml:
        return []
    return [
        _error(
            "resulting_mismatch",
            "resulting_volume_ml",
            f"The programmed reservoir volume ({fmt(resulting_volume_ml)} mL) should "
            f"equal what was left plus what was added ({fmt(in_pump)} mL, "
            f"±{fmt(fill_tolerance_ml)} mL). "
            "A wrong volume moves the alarm date. Check the programmer.",
        )
    ]


def check_performed_at(performed_at: dt.datetime | None, *, now: dt.datetime) -> list[Finding]:
    if performed_at is None:
        return [_error("performed_missing", "performed_at", "Enter when the refill was done.")]
    if performed_at > now + FUTURE_SLACK:
        return [
            _error(
                "refill_in_future",
                "performed_at",
                "A refill cannot be recorded in the future. Check the date and time.",
            )
        ]
    return []


def check_bridge_bolus(
    *,
    old_concentration: Decimal | None,
    new_concentration: Decimal | None,
    bridge_mcg: Decimal | None,
    bridge_ml: Decimal | None,
    not_needed_reason: str,
) -> list[Finding]:
    """A concentration change needs a bridge bolus or a reason (domain.md §7.2 #10)."""
    if (bridge_mcg is not None and bridge_mcg < 0) or (bridge_ml is not None and bridge_ml < 0):
        return [
            _error(
                "bridge_bolus_negative",
                "bridge_bolus_mcg",
                "A bridge bolus cannot be negative. Enter the mcg and mL given, or leave both "
                "empty.",
            )
        ]
    if old_concentration is None or new_concentration is None:
        return []
    if old_concentration == new_concentration:
        return []
    if bridge_mcg and bridge_ml and bridge_mcg > 0 and bridge_ml > 0:
        return []
    if not_needed_reason.strip():
        return []
    return [
        _error(
            "bridge_bolus_missing",
            "bridge_bolus_mcg",
            f"The concentration changes from {fmt(old_concentration)} to "
            f"{fmt(new_concentration)} mcg/mL. Record the bridge bolus (mcg and mL) or why "
            "none is needed.",
        )
    ]


def check_lot(*, lot_number: str, lot_expiry: dt.date | None, refill_day: dt.date) -> list[Finding]:
    """The drug lot and its expiry (domain.md §4.2): an expired lot is never put in a pump.

    ``refill_day`` is the refill's date on the clinic's calendar; a lot is usable through
    its expiry date.
    """
    findings = []
    if not (lot_number or "").strip():
        findings.append(
            _error("lot_number_missing", "lot_number", "Enter the lot number from the drug label.")
        )
    if lot_expiry is None:
        findings.append(
            _error(
                "lot_expiry_missing",
                "lot_expiry",
                "Enter the lot's expiry date from the drug label.",
            )
        )
    elif lot_expiry < refill_day:
        findings.append(
            _error(
                "lot_expired",
                "lot_expiry",
                f"This lot expired on {day_text(lot_expiry)}, before the refill date "
                f"({day_text(refill_day)}). Do not use it: fill from a lot that is in date.",
            )
        )
    return findings


def check_needle_placement(confirmed: bool, method: str) -> list[Finding]:
    if confirmed and method:
        return []
    return [
        _error(
            "needle_not_confirmed",
            "needle_placement_confirmed",
            "Confirm needle placement in the reservoir (template aligned and needle stop "
            "reached, or ultrasound) before saving the fill. If unsure, do not refill.",
        )
    ]


def check_discrepancy_assessment(
    *, flagged: bool, message: str, assessment: str, action: str
) -> list[Finding]:
    """A flagged discrepancy needs an assessment and an action (domain.md §7.2 #14)."""
    if not flagged:
        return []
    findings = []
    if not assessment.strip():
        findings.append(
            _error(
                "discrepancy_assessment_missing",
                "discrepancy_assessment",
                f"{message} Write your assessment.",
            )
        )
    if not action:
        findings.append(
            _error(
                "discrepancy_action_missing",
                "discrepancy_action",
                "Choose an action for the discrepancy (work-up, imaging, notify physician...).",
            )
        )
    return findings


def check_post_fill_volume(
    *,
    has_sensor: bool,
    capacity_ml: Decimal,
    measured_ml: Decimal | None,
    check: PostFillCheck | None,
) -> list[Finding]:
    """The sensor's reading after the fill (domain.md §2.4, §7.1 #8)."""
    if measured_ml is None:
        return []
    if not has_sensor:
        return [
            _error(
                "measured_volume_no_sensor",
                "measured_volume_after_fill_ml",
                "This pump model does not measure its reservoir volume. Leave the measured "
                "volume empty.",
            )
        ]
    if measured_ml < 0 or measured_ml > capacity_ml:
        return [
            _error(
                "measured_volume_out_of_range",
                "measured_volume_after_fill_ml",
                f"The measured volume must be between 0 and the reservoir capacity "
                f"({fmt(capacity_ml)} mL).",
            )
        ]
    if check is None or not check.suspected:
        return []
    return [
        _warning(
            "possible_pocket_fill",
            "measured_volume_after_fill_ml",
            f"Possible pocket fill: the pump measured {fmt(measured_ml)} mL, "
            f"{fmt(check.gap_ml)} mL less than was programmed (more than {fmt(check.limit_ml)} "
            "mL is a concern for this reservoir size). Drug may be in the pocket instead of "
            "the reservoir. Watch for overdose signs (drowsiness, slow breathing), tell the "
            "physician now and record what you did. The forecast will use the measured volume.",
        )
    ]


def check_days_to_alarm(days_to_alarm: Decimal | None, *, short_days: int) -> list[Finding]:
    """Days from the fill to the nominal alarm (domain.md §7.2 #8)."""
    if days_to_alarm is not None and days_to_alarm <= 0:
        # The reservoir would start at or below the alarm volume.
        return [
            _error(
                "alarm_not_after_refill",
                "resulting_volume_ml",
                "With this volume the low-reservoir alarm would sound at once: the programmed "
                "volume is at or below the alarm volume (plus any bridge bolus). Check the "
                "volumes.",
            )
        ]
    if days_to_alarm is not None and days_to_alarm < short_days:
        return [
            _warning(
                "alarm_soon",
                "concentration_mcg_per_ml",
                f"The alarm would sound in {days_to_alarm:.1f} days. Intervals under "
                f"{short_days} days are unusual: check the concentration and volume entries.",
            )
        ]
    return []


def check_printed_alarm(
    *, printed: dt.date | None, computed: dt.date | None, tolerance_days: int
) -> list[Finding]:
    """Cross-check with the programmer printout (domain.md §7.1 #3)."""
    if printed is None or computed is None:
        return []
    gap = (printed - computed).days
    if abs(gap) <= tolerance_days:
        return []
    return [
        _warning(
            "printed_alarm_mismatch",
            "printed_alarm_date",
            f"The printout's alarm date ({day_text(printed)}) differs from pumptrack's "
            f"({day_text(computed)}) by {abs(gap)} days. Check the concentration, volume, "
            "alarm volume and rate units in both.",
        )
    ]
