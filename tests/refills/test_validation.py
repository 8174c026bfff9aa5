"""Every rule in refills/validation.py: its code, severity and the words a nurse reads.

Pure tests: validation.py imports no Django, so none of these touch a database.
Each rule is paired with the neighbouring value that must pass, so a boundary
moved by one unit fails a test.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from refills import validation as v
from refills.forecast import flex_daily_total_mcg, post_fill_check

ERROR, WARNING, PHYSICIAN = v.Severity.ERROR, v.Severity.WARNING, v.Severity.PHYSICIAN

# What the database's active, non-custom products give (refills/migrations/0002).
CATALOGUE = [D("50"), D("500"), D("1000"), D("2000")]

# Every code a test below triggers; test_every_finding_code_is_tested compares it
# with the codes written in validation.py, so a new rule without a test fails.
TESTED_CODES: set[str] = set()


def case(call, code, severity, *words, name=None):
    TESTED_CODES.add(code)
    return pytest.param(call, code, severity, words, id=name or code)


def only(findings: list[v.Finding]) -> v.Finding:
    assert len(findings) == 1, [f.code for f in findings]
    return findings[0]


def codes(findings: list[v.Finding]) -> list[str]:
    return [f.code for f in findings]


def assert_finding(finding: v.Finding, code, severity, words) -> None:
    assert finding.code == code
    assert finding.severity == severity
    for word in words:
        assert word in finding.message, f"{word!r} not in {finding.message!r}"


# --------------------------------------------------------------------------- module


def test_validation_module_imports_no_django():
    code = (
        "import sys, refills.validation; "
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("severity", "blocks", "needs_override"),
    [(ERROR, True, False), (WARNING, False, True), (PHYSICIAN, False, True)],
)
def test_severity_decides_block_or_override(severity, blocks, needs_override):
    finding = v.Finding("x", None, "message", severity)
    assert finding.blocks is blocks
    assert finding.needs_override is needs_override


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (D("2000.0"), "2000"),
        (D("0.50"), "0.5"),
        (D("12.25"), "12.25"),
        (3, "3"),
        (D("1E+3"), "1000"),
    ],
)
def test_fmt_shows_numbers_without_trailing_zeros(value, shown):
    assert v.fmt(value) == shown


# --------------------------------------------------------------------------- concentration


def conc(value, **kwargs):
    return lambda: v.check_concentration(value, catalogue_strengths=CATALOGUE, **kwargs)


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(conc(None), "concentration_missing", ERROR, "Enter the concentration in mcg/mL."),
        case(
            conc(D("2")),
            "concentration_mg_suspected",
            ERROR,
            "Did you mean 2 mg/mL = 2000 mcg/mL?",
            "Enter the concentration in mcg/mL.",
            name="2-means-2-mg-per-ml",
        ),
        case(
            conc(D("0.5")),
            "concentration_mg_suspected",
            ERROR,
            "0.5 mg/mL = 500 mcg/mL",
            name="0.5-means-0.5-mg-per-ml",
        ),
        case(
            conc(D("0.05")),
            "concentration_mg_suspected",
            ERROR,
            "0.05 mg/mL = 50 mcg/mL",
            name="0.05-means-screening-strength",
        ),
        case(conc(D("1")), "concentration_mg_suspected", ERROR, "1 mg/mL = 1000 mcg/mL", name="1"),
        case(conc(D("3")), "concentration_mg_suspected", ERROR, "3 mg/mL = 3000 mcg/mL", name="3"),
        case(
            conc(D("2.0")),
            "concentration_mg_suspected",
            ERROR,
            "2 mg/mL = 2000 mcg/mL",
            name="2.0-shown-as-2",
        ),
        case(
            conc(D("49.9")),
            "concentration_too_low",
            ERROR,
            "49.9 mcg/mL is below the weakest baclofen product (50 mcg/mL)",
            "vial label",
        ),
        case(
            conc(D("2.5")),
            "concentration_too_low",
            ERROR,
            "2.5 mcg/mL",
            name="2.5-not-a-mg-strength",
        ),
        case(conc(D("-500")), "concentration_too_low", ERROR, "-500 mcg/mL", name="negative"),
        case(
            conc(D("3000.1")),
            "concentration_too_high",
            ERROR,
            "3000.1 mcg/mL is above the strongest baclofen product (3000 mcg/mL)",
            "unit",
        ),
        case(
            conc(D("50")),
            "concentration_screening_only",
            WARNING,
            "50 mcg/mL is the screening-bolus strength, not a pump refill strength",
        ),
        case(
            conc(D("3000")),
            "concentration_custom_unconfirmed",
            ERROR,
            "3000 mcg/mL is not a catalogue strength (500, 1000, 2000 mcg/mL)",
            "reason and a second clinician's confirmation",
            name="3000-not-in-catalogue",
        ),
        case(
            conc(D("1500"), custom_reason="Pharmacy dilution for low dose"),
            "concentration_custom_unconfirmed",
            ERROR,
            "1500 mcg/mL is not a catalogue strength",
            name="custom-reason-without-second-clinician",
        ),
        case(
            conc(D("1500"), custom_reason="   ", has_second_clinician=True),
            "concentration_custom_unconfirmed",
            ERROR,
            "second clinician",
            name="custom-blank-reason",
        ),
        case(
            conc(D("2000"), is_custom_dilution=True),
            "concentration_custom_unconfirmed",
            ERROR,
            "2000 mcg/mL",
            name="custom-product-at-catalogue-strength",
        ),
    ],
)
def test_concentration_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


@pytest.mark.parametrize("value", ["500", "1000", "2000"])
def test_catalogue_strengths_pass(value):
    assert v.check_concentration(D(value), catalogue_strengths=CATALOGUE) == []


def test_3000_passes_when_the_catalogue_lists_it():
    assert v.check_concentration(D("3000"), catalogue_strengths=[*CATALOGUE, D("3000")]) == []


@pytest.mark.parametrize("value", ["50.1", "1500", "3000"])
def test_custom_strength_with_reason_and_second_clinician_passes(value):
    findings = v.check_concentration(
        D(value),
        catalogue_strengths=CATALOGUE,
        is_custom_dilution=True,
        custom_reason="Diluted by pharmacy for a low-dose start",
        has_second_clinician=True,
    )
    assert findings == []


def test_concentration_finding_uses_the_given_field():
    finding = only(v.check_concentration(D("2"), catalogue_strengths=CATALOGUE, field="conc"))
    assert finding.field == "conc"


def test_domain_case_4_unit_error_is_rejected_before_projection():
    # Domain §9 case 4: "2" entered meaning 2 mg/mL would give 200 mL/day.
    finding = only(v.check_concentration(D("2"), catalogue_strengths=CATALOGUE))
    assert finding.blocks
    assert "2000 mcg/mL" in finding.message


# --------------------------------------------------------------------------- daily dose


def dose(value, mode="simple", origin="spinal", age=40):
    return lambda: v.check_daily_dose(
        None if value is None else D(value), mode=mode, origin=origin, age_years=age
    )


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(dose(None), "dose_missing", ERROR, "Enter the daily dose in mcg/day."),
        case(dose("-1"), "dose_negative", ERROR, "cannot be negative"),
        case(dose("0"), "dose_zero", ERROR, "must be more than 0 mcg/day"),
        case(
            dose("0", mode="stopped"),
            "dose_stopped",
            WARNING,
            "no baclofen",
            "withdrawal",
            "record why",
        ),
        case(dose("0", mode="minimum"), "dose_stopped", WARNING, "withdrawal", name="minimum-rate"),
        case(
            dose("801"),
            "dose_above_usual",
            WARNING,
            "801 mcg/day is above what most patients with spinal-origin spasticity need",
            "up to 800 mcg/day",
            name="spinal-801",
        ),
        case(dose("1000"), "dose_above_usual", WARNING, "1000 mcg/day", name="spinal-1000"),
        case(
            dose("704", origin="cerebral"),
            "dose_above_usual",
            WARNING,
            "cerebral-origin",
            "up to 703 mcg/day",
            name="cerebral-704",
        ),
        case(
            dose("1001"),
            "dose_limited_experience",
            WARNING,
            "1001 mcg/day is above 1000 mcg/day",
            "experience is limited",
            "per day, not per hour",
            name="1001",
        ),
        case(dose("2003"), "dose_limited_experience", WARNING, "2003 mcg/day", name="2003"),
        case(
            dose("1401", origin="cerebral"),
            "dose_limited_experience",
            WARNING,
            "labelled range for cerebral-origin spasticity (22–1400 mcg/day)",
            name="cerebral-above-label-range",
        ),
        case(
            dose("2003.1"),
            "dose_above_label_range",
            PHYSICIAN,
            "2003.1 mcg/day is above the labelled maximum experience (2003 mcg/day)",
            "A physician must confirm",
            name="2003.1",
        ),
        case(
            dose("11.9"),
            "dose_below_range",
            WARNING,
            "11.9 mcg/day is below the labelled maintenance range (12–2003 mcg/day)",
            "unit",
            name="spinal-11.9",
        ),
        case(
            dose("21.9", origin="cerebral"),
            "dose_below_range",
            WARNING,
            "(22–1400 mcg/day)",
            name="cerebral-21.9",
        ),
    ],
)
def test_daily_dose_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("800", "spinal"),
        ("12", "spinal"),
        ("400", "spinal"),
        ("703", "cerebral"),
        ("22", "cerebral"),
    ],
)
def test_daily_dose_inside_usual_range_passes(value, origin):
    assert v.check_daily_dose(D(value), mode="simple", origin=origin, age_years=40) == []


def test_low_dose_on_minimum_rate_is_not_below_range():
    assert v.check_daily_dose(D("5"), mode="minimum", origin="spinal", age_years=40) == []


TESTED_CODES.add("dose_above_pediatric")


@pytest.mark.parametrize(
    ("value", "age", "warned"),
    [
        ("1199", 11, False),
        ("1200", 11, True),
        ("1200", 12, False),  # 12 is no longer a child for this bound
        ("1200", None, False),  # unknown age: no pediatric bound
    ],
)
def test_pediatric_bound_is_1199_mcg_under_12(value, age, warned):
    findings = v.check_daily_dose(D(value), mode="simple", origin="spinal", age_years=age)
    pediatric = [f for f in findings if f.code == "dose_above_pediatric"]
    assert bool(pediatric) is warned
    if warned:
        assert_finding(
            pediatric[0],
            "dose_above_pediatric",
            WARNING,
            ["1200 mcg/day is above the highest dose reported in children under 12 (1199"],
        )
    # 1199 and 1200 are both above 1000: the limited-experience warning stays.
    assert "dose_limited_experience" in codes(findings)


def test_daily_dose_uses_the_given_field():
    (finding,) = v.check_daily_dose(
        D("0"), mode="simple", origin="spinal", age_years=40, field="daily"
    )
    assert finding.field == "daily"


# --------------------------------------------------------------------------- flex steps


def flex(*steps):
    return lambda: v.check_flex_steps([(D(str(r)), D(str(h))) for r, h in steps])


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(flex(), "flex_missing", ERROR, "at least one step"),
        case(
            flex((60, 23)),
            "flex_hours",
            ERROR,
            "The flex steps cover 23 hours; they must cover exactly 24 hours.",
        ),
        case(flex((10, 12), (20, 12.5)), "flex_hours", ERROR, "24.5 hours", name="over-24"),
        case(
            flex((10, 25), (10, -1)),
            "flex_step_invalid",
            ERROR,
            "Flex step 2 (10 mcg/hour for -1 hours) is not possible",
        ),
        case(flex((-5, 24)), "flex_step_invalid", ERROR, "Flex step 1", name="negative-rate"),
        case(flex((10, 0), (10, 24)), "flex_step_invalid", ERROR, "0 hours", name="zero-hours"),
    ],
)
def test_flex_step_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


@pytest.mark.parametrize(
    "steps", [[(60, 24)], [(10, 12), (20, 12)], [(0, 6), (15, 6), (20, 6), (15, 6)]]
)
def test_flex_steps_covering_24_hours_pass(steps):
    assert flex(*steps)() == []


def test_domain_case_5_ismp_hourly_rate_needs_a_physician():
    # Domain §9 case 5: 60 mcg/h entered as a flex step for 24 h, where the prior
    # program was 60 mcg/day. The steps themselves are well formed...
    steps = [(D(60), D(24))]
    assert v.check_flex_steps(steps) == []
    total = flex_daily_total_mcg(steps)
    assert total == D(1440)
    # ...but the daily total is 24x the prior program: a physician-level block.
    finding = only(
        v.check_dose_change(
            old_mcg=D(60),
            new_mcg=total,
            origin="spinal",
            pediatric=False,
            hours_since_last_change=None,
        )
    )
    assert_finding(
        finding,
        "dose_increase_over_limit",
        PHYSICIAN,
        ["from 60 to 1440 mcg/day", "+2300 %", "×24.0", "check the unit"],
    )
    assert not finding.blocks and finding.needs_override
    # The total is also above the 1000 mcg/day limited-experience line.
    dose_findings = v.check_daily_dose(total, mode="flex", origin="spinal", age_years=40)
    assert codes(dose_findings) == ["dose_limited_experience"]


def schedule(*steps):
    """Flex steps as (start "HH:MM", hours) for check_flex_schedule."""
    return lambda: v.check_flex_schedule(
        [(dt.time.fromisoformat(start), D(str(hours))) for start, hours in steps]
    )


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(
            schedule(("00:00", 12), ("13:00", 11)),
            "flex_gap",
            ERROR,
            "No flex step covers 12:00 to 13:00. Each step must start when the previous one ends.",
        ),
        case(
            schedule(("23:00", 2), ("01:00", 20)),
            "flex_gap",
            ERROR,
            "21:00 to 23:00",
            name="gap-before-a-step-past-midnight",
        ),
        case(
            schedule(("00:00", 12), ("06:00", 6), ("12:00", 12)),
            "flex_overlap",
            ERROR,
            "Flex steps overlap from 06:00 to 12:00 (the steps starting at 00:00 and 06:00). "
            "Each step must start when the previous one ends.",
        ),
        case(
            schedule(("22:00", 4), ("01:00", 21)),
            "flex_overlap",
            ERROR,
            "01:00 to 02:00 (the steps starting at 22:00 and 01:00)",
            name="overlap-past-midnight",
        ),
        case(
            schedule(("00:00", 30)),
            "flex_overlap",
            ERROR,
            "00:00 to 06:00 (the step starting at 00:00 runs more than once round the clock)",
            name="longer-than-a-day",
        ),
    ],
)
def test_flex_schedule_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


def test_overlapping_flex_steps_also_leave_a_gap():
    # 24 hours in all, but 06:00–12:00 twice and 18:00–00:00 never.
    findings = schedule(("00:00", 12), ("06:00", 12))()
    assert codes(findings) == ["flex_overlap", "flex_gap"]
    assert "06:00 to 12:00" in findings[0].message
    assert "18:00 to 00:00" in findings[1].message
    assert all(f.field == "flex_steps" and f.blocks for f in findings)


def test_three_flex_steps_over_one_stretch_are_named():
    findings = schedule(("00:00", 8), ("04:00", 8), ("06:00", 8))()
    assert "the steps starting at 00:00, 04:00 and 06:00" in findings[0].message


def test_two_flex_steps_at_the_same_time_are_an_overlap():
    findings = schedule(("08:00", 12), ("08:00", 12))()
    assert codes(findings) == ["flex_overlap", "flex_gap"]
    assert "the steps starting at 08:00 and 08:00" in findings[0].message


@pytest.mark.parametrize(
    "steps",
    [
        [("00:00", 24)],
        [("08:00", 24)],  # one step round the clock from the pump's 08:00
        [("00:00", 12), ("12:00", 12)],
        [("22:00", 10), ("08:00", 14)],  # past midnight, entered out of order
        [("00:00", 6), ("06:00", 6), ("12:00", 6), ("18:00", 6)],
        # 1 h 20 min is 1.33 h to 0.01 h: it meets the 01:20 start within the minute.
        [("00:00", "1.33"), ("01:20", "22.67")],
    ],
)
def test_flex_steps_that_follow_one_another_pass(steps):
    assert schedule(*steps)() == []


@pytest.mark.parametrize("steps", [[], [("00:00", 0), ("06:00", 30)], [("00:00", -1)]])
def test_flex_schedule_leaves_impossible_steps_to_check_flex_steps(steps):
    assert schedule(*steps)() == []


# --------------------------------------------------------------------------- boluses


def bolus(mcg, per_day=1, basal=400):
    return lambda: v.check_boluses(bolus_mcg=D(str(mcg)), per_day=per_day, basal_daily_mcg=D(basal))


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(bolus(-1), "bolus_negative", ERROR, "cannot be negative"),
        case(bolus(25, per_day=-1), "bolus_count_negative", ERROR, "cannot be negative"),
        case(bolus(25, per_day=0), "bolus_count", ERROR, "how many boluses a day"),
        case(
            bolus("100.1"),
            "bolus_large",
            WARNING,
            "A single bolus of 100.1 mcg is above 100 mcg",
            "as small as 25 mcg",
        ),
        case(
            bolus(50, per_day=5),
            "bolus_share",
            WARNING,
            "Scheduled boluses (250 mcg/day) are more than half of the basal dose (400 mcg/day)",
        ),
    ],
)
def test_bolus_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


@pytest.mark.parametrize(
    ("mcg", "per_day", "basal"),
    [(100, 1, 400), (50, 4, 400), (0, 0, 400), (25, 2, 150), (0, 3, 400)],
)
def test_boluses_within_limits_pass(mcg, per_day, basal):
    assert bolus(mcg, per_day, basal)() == []


# --------------------------------------------------------------------------- dose change


def change(old, new, origin="spinal", pediatric=False, hours=None):
    return lambda: v.check_dose_change(
        old_mcg=None if old is None else D(str(old)),
        new_mcg=D(str(new)),
        origin=origin,
        pediatric=pediatric,
        hours_since_last_change=None if hours is None else D(str(hours)),
    )


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(
            change(400, 561),
            "dose_increase_over_limit",
            PHYSICIAN,
            "from 400 to 561 mcg/day",
            "Increases above 40 % for spinal-origin spasticity need a physician",
            name="spinal-over-40",
        ),
        case(
            change(400, 481, origin="cerebral"),
            "dose_increase_over_limit",
            PHYSICIAN,
            "Increases above 20 % for cerebral-origin",
            name="cerebral-over-20",
        ),
        case(
            change(400, 560),
            "dose_change_confirm",
            WARNING,
            "changes by +40 % (400 → 560 mcg/day)",
            "Confirm the new total",
            name="spinal-exactly-40",
        ),
        case(change(400, 481), "dose_change_confirm", WARNING, "400 → 481", name="spinal-over-20"),
        case(
            change(400, 319),
            "dose_decrease_large",
            WARNING,
            "falls by 20 % (400 → 319 mcg/day)",
            "withdrawal",
        ),
        case(
            change(400, 199),
            "dose_decrease_over_limit",
            PHYSICIAN,
            "falls by 50 % (400 → 199 mcg/day",
            "A physician must confirm it",
            name="decrease-over-50",
        ),
        case(
            change(400, 200),
            "dose_decrease_large",
            WARNING,
            "falls by 50 % (400 → 200 mcg/day)",
            name="decrease-exactly-50",
        ),
        case(
            change(0, 100),
            "dose_restart",
            WARNING,
            "stopped (0 mcg/day) and restarts at 100 mcg/day",
        ),
    ],
)
def test_dose_change_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


@pytest.mark.parametrize(
    ("old", "new", "origin"),
    [
        (400, 480, "spinal"),  # +20 % exactly
        (400, 480, "cerebral"),  # +20 % exactly is the cerebral limit, not over it
        (400, 320, "spinal"),  # -20 % exactly
        (400, 400, "spinal"),
        (None, 400, "spinal"),  # no program before
        (0, 0, "spinal"),  # still stopped
    ],
)
def test_dose_changes_within_limits_pass(old, new, origin):
    assert change(old, new, origin=origin)() == []


TESTED_CODES.add("titration_too_fast")


@pytest.mark.parametrize(
    ("old", "new", "origin", "pediatric", "hours", "expected"),
    [
        # spinal: +30 % a day is the titration ceiling
        (400, 520, "spinal", False, "23.9", ["dose_change_confirm"]),
        (400, 521, "spinal", False, "23.9", ["dose_change_confirm", "titration_too_fast"]),
        (400, 521, "spinal", False, "24", ["dose_change_confirm"]),  # a day later: no titration
        # cerebral and children: +15 %
        (400, 460, "cerebral", False, "12", []),
        (400, 461, "cerebral", False, "12", ["titration_too_fast"]),
        (400, 461, "spinal", True, "12", ["titration_too_fast"]),
        (400, 460, "spinal", True, "12", []),
        # decreases never count as titration
        (400, 300, "spinal", False, "1", ["dose_decrease_large"]),
    ],
)
def test_titration_within_24_hours(old, new, origin, pediatric, hours, expected):
    findings = change(old, new, origin=origin, pediatric=pediatric, hours=hours)()
    assert codes(findings) == expected
    for finding in findings:
        if finding.code == "titration_too_fast":
            limit = "15" if origin == "cerebral" or pediatric else "30"
            assert finding.severity == WARNING
            assert "already changed in the last 24 hours" in finding.message
            assert f"above {limit} % a day" in finding.message


# --------------------------------------------------------------------------- volumes


MISSING = object()


def volumes(residual="5", left="0", added="20", resulting=None, capacity="20"):
    """Refill volumes; the programmed volume defaults to left + added."""
    if resulting is None:
        resulting = str(D(left) + D(added)) if added is not None else "20"

    def value(text):
        return None if text is None or text is MISSING else D(text)

    return lambda: v.check_refill_volumes(
        capacity_ml=D(capacity),
        actual_residual_ml=value(residual),
        residual_left_ml=D(left),
        volume_added_ml=value(added),
        resulting_volume_ml=value(resulting),
    )


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(volumes(residual=None), "residual_missing", ERROR, "Enter the residual."),
        case(
            volumes(residual="-0.1"),
            "residual_out_of_range",
            ERROR,
            "between 0 and the reservoir capacity (20 mL)",
            name="residual-negative",
        ),
        case(
            volumes(residual="20.1"),
            "residual_out_of_range",
            ERROR,
            "(20 mL)",
            name="residual-20.1",
        ),
        case(
            volumes(residual="40.1", capacity="40", added="40"),
            "residual_out_of_range",
            ERROR,
            "(40 mL)",
            name="residual-40-ml-pump",
        ),
        case(
            volumes(left="-1", added="20", resulting="19"),
            "residual_left_out_of_range",
            ERROR,
            "between 0 and 20 mL",
            name="left-negative",
        ),
        case(
            volumes(residual="15", left="6", added="14", resulting="20"),
            "residual_over_capacity",
            ERROR,
            "15 mL aspirated plus 6 mL left in the pump is more than the 20 mL reservoir holds",
        ),
        case(
            volumes(added=None, resulting="20"), "added_missing", ERROR, "Enter the volume added."
        ),
        case(
            volumes(added="0", resulting="20"),
            "added_not_positive",
            ERROR,
            "The volume added must be above 0 mL.",
        ),
        case(
            volumes(left="2", added="18.1", resulting="20"),
            "overfill",
            ERROR,
            "Adding 18.1 mL to 2 mL left would overfill the 20 mL reservoir. Do not overfill.",
        ),
        case(
            volumes(resulting=MISSING),
            "resulting_missing",
            ERROR,
            "Enter the programmed volume.",
        ),
        case(
            volumes(added="20", resulting="20.1"),
            "resulting_out_of_range",
            ERROR,
            "above 0 and at most 20 mL",
            name="resulting-20.1",
        ),
        case(
            volumes(added="20", resulting="0"),
            "resulting_out_of_range",
            ERROR,
            "above 0",
            name="resulting-0",
        ),
        case(
            volumes(added="20", resulting="19.4"),
            "resulting_mismatch",
            ERROR,
            "The programmed reservoir volume (19.4 mL) should equal what was left plus what "
            "was added (20 mL, ±0.5 mL)",
            "Check the programmer",
        ),
    ],
)
def test_refill_volume_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


@pytest.mark.parametrize(
    ("residual", "left", "added", "resulting", "capacity"),
    [
        ("0", "0", "20", "20", "20"),
        ("20", "0", "20", "20", "20"),  # residual exactly the capacity
        ("3", "2", "18", "20", "20"),  # overfill check: exactly at capacity
        ("5", "0", "20", "19.5", "20"),  # -0.5 mL tolerance
        ("5", "0", "19", "19.5", "20"),  # +0.5 mL tolerance
        ("10", "10", "10", "20", "20"),  # 10 aspirated + 10 left = capacity
        ("12", "0", "40", "40", "40"),  # 40 mL pump
    ],
)
def test_refill_volumes_within_limits_pass(residual, left, added, resulting, capacity):
    findings = v.check_refill_volumes(
        capacity_ml=D(capacity),
        actual_residual_ml=D(residual),
        residual_left_ml=D(left),
        volume_added_ml=D(added),
        resulting_volume_ml=D(resulting),
    )
    assert findings == []


def test_resulting_mismatch_just_beyond_tolerance_on_the_high_side():
    findings = v.check_refill_volumes(
        capacity_ml=D(20),
        actual_residual_ml=D(5),
        residual_left_ml=D(0),
        volume_added_ml=D("19"),
        resulting_volume_ml=D("19.6"),
    )
    assert codes(findings) == ["resulting_mismatch"]


def test_several_volume_problems_are_reported_together():
    findings = v.check_refill_volumes(
        capacity_ml=D(20),
        actual_residual_ml=None,
        residual_left_ml=D(0),
        volume_added_ml=None,
        resulting_volume_ml=None,
    )
    assert codes(findings) == ["residual_missing", "added_missing", "resulting_missing"]
    assert [f.field for f in findings] == [
        "actual_residual_ml",
        "volume_added_ml",
        "resulting_volume_ml",
    ]


# --------------------------------------------------------------------------- when, bridge, needle

NOW = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(
            lambda: v.check_performed_at(None, now=NOW),
            "performed_missing",
            ERROR,
            "Enter when the refill was done.",
        ),
        case(
            lambda: v.check_performed_at(NOW + dt.timedelta(minutes=5, seconds=1), now=NOW),
            "refill_in_future",
            ERROR,
            "A refill cannot be recorded in the future.",
        ),
    ],
)
def test_performed_at_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


@pytest.mark.parametrize(
    "performed_at",
    [NOW, NOW - dt.timedelta(days=30), NOW + dt.timedelta(minutes=5)],  # clock-skew slack
)
def test_performed_at_now_or_past_passes(performed_at):
    assert v.check_performed_at(performed_at, now=NOW) == []


def bridge(old="500", new="2000", mcg=None, ml=None, reason=""):
    return lambda: v.check_bridge_bolus(
        old_concentration=None if old is None else D(old),
        new_concentration=None if new is None else D(new),
        bridge_mcg=None if mcg is None else D(mcg),
        bridge_ml=None if ml is None else D(ml),
        not_needed_reason=reason,
    )


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(
            bridge(),
            "bridge_bolus_missing",
            ERROR,
            "The concentration changes from 500 to 2000 mcg/mL.",
            "Record the bridge bolus (mcg and mL) or why none is needed.",
        ),
        case(bridge(mcg="100"), "bridge_bolus_missing", ERROR, "bridge bolus", name="mcg-only"),
        case(bridge(ml="0.2"), "bridge_bolus_missing", ERROR, "bridge bolus", name="ml-only"),
        case(bridge(reason="   "), "bridge_bolus_missing", ERROR, "why none", name="blank-reason"),
        case(
            bridge(mcg="100", ml="-0.2"),
            "bridge_bolus_negative",
            ERROR,
            "A bridge bolus cannot be negative.",
        ),
    ],
)
def test_bridge_bolus_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


@pytest.mark.parametrize(
    "call",
    [
        bridge(mcg="100", ml="0.2"),
        bridge(reason="Catheter volume already flushed at the visit"),
        bridge(old="2000", new="2000"),
        bridge(old=None),
        bridge(new=None),
    ],
    ids=["bolus-recorded", "reason", "same-strength", "first-fill", "no-new-strength"],
)
def test_bridge_bolus_not_needed_or_recorded_passes(call):
    assert call() == []


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(
            lambda: v.check_lot(
                lot_number=" ", lot_expiry=dt.date(2026, 1, 1), refill_day=dt.date(2025, 6, 1)
            ),
            "lot_number_missing",
            ERROR,
            "Enter the lot number",
        ),
        case(
            lambda: v.check_lot(lot_number="L1", lot_expiry=None, refill_day=dt.date(2025, 6, 1)),
            "lot_expiry_missing",
            ERROR,
            "expiry date",
        ),
        case(
            lambda: v.check_lot(
                lot_number="L1", lot_expiry=dt.date(2025, 5, 31), refill_day=dt.date(2025, 6, 1)
            ),
            "lot_expired",
            ERROR,
            "expired on Sat 31 May 2025, before the refill date (Sun 1 Jun 2025)",
            "Do not use it",
        ),
    ],
)
def test_lot_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


def test_a_lot_is_usable_through_its_expiry_day():
    day = dt.date(2025, 6, 1)
    assert v.check_lot(lot_number="L1", lot_expiry=day, refill_day=day) == []


TESTED_CODES.add("needle_not_confirmed")


@pytest.mark.parametrize(
    ("confirmed", "method", "passes"),
    [
        (True, "template_stop", True),
        (True, "ultrasound", True),
        (False, "template_stop", False),
        (True, "", False),
        (False, "", False),
    ],
)
def test_needle_placement_must_be_confirmed(confirmed, method, passes):
    findings = v.check_needle_placement(confirmed, method)
    if passes:
        assert findings == []
    else:
        assert_finding(
            only(findings),
            "needle_not_confirmed",
            ERROR,
            ["Confirm needle placement in the reservoir", "needle stop", "do not refill"],
        )


# --------------------------------------------------------------------------- discrepancy

RECON_MESSAGE = "2.5 mL more left than expected (10.5 mL found, 8.0 mL expected)."


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(
            lambda: v.check_discrepancy_assessment(
                flagged=True, message=RECON_MESSAGE, assessment="", action="workup"
            ),
            "discrepancy_assessment_missing",
            ERROR,
            RECON_MESSAGE + " Write your assessment.",
        ),
        case(
            lambda: v.check_discrepancy_assessment(
                flagged=True, message=RECON_MESSAGE, assessment="Catheter kink?", action=""
            ),
            "discrepancy_action_missing",
            ERROR,
            "Choose an action for the discrepancy",
        ),
    ],
)
def test_discrepancy_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


# --------------------------------------------------------------------------- post-fill check


def post_fill(capacity, measured, programmed="20", has_sensor=True):
    check = post_fill_check(
        capacity_ml=D(capacity), programmed_ml=D(programmed), measured_ml=D(measured)
    )
    return v.check_post_fill_volume(
        has_sensor=has_sensor, capacity_ml=D(capacity), measured_ml=D(measured), check=check
    )


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(
            lambda: post_fill("20", "18", has_sensor=False),
            "measured_volume_no_sensor",
            ERROR,
            "This pump model does not measure its reservoir volume.",
        ),
        case(
            lambda: v.check_post_fill_volume(
                has_sensor=True, capacity_ml=D("20"), measured_ml=D("20.5"), check=None
            ),
            "measured_volume_out_of_range",
            ERROR,
            "between 0 and the reservoir capacity (20 mL)",
        ),
        case(
            lambda: post_fill("20", "18.9"),
            "possible_pocket_fill",
            WARNING,
            "Possible pocket fill: the pump measured 18.9 mL, 1.1 mL less than was programmed",
            "more than 1 mL is a concern",
            "tell the physician now",
            "The forecast will use the measured volume.",
        ),
        case(
            lambda: post_fill("40", "37.9", programmed="40"),
            "possible_pocket_fill",
            WARNING,
            "2.1 mL less than was programmed (more than 2 mL is a concern",
            name="possible_pocket_fill_40ml",
        ),
    ],
)
def test_post_fill_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


@pytest.mark.parametrize(
    ("capacity", "measured", "programmed"),
    [
        ("20", "19", "20"),  # exactly 1 mL short of a 20 mL pump: at the limit, not over it
        ("40", "38", "40"),  # 2 mL short of a 40 mL pump
        ("40", "38.5", "40"),  # 1.5 mL short: a concern in a 20 mL pump, not in a 40 mL one
        ("20", "20", "19.5"),  # measured more than programmed: not a pocket fill
    ],
)
def test_post_fill_within_limits_passes(capacity, measured, programmed):
    assert post_fill(capacity, measured, programmed=programmed) == []


def test_no_measured_volume_is_no_finding():
    assert (
        v.check_post_fill_volume(has_sensor=True, capacity_ml=D("20"), measured_ml=None, check=None)
        == []
    )
    assert (
        v.check_post_fill_volume(
            has_sensor=False, capacity_ml=D("20"), measured_ml=None, check=None
        )
        == []
    )


def test_flagged_discrepancy_with_nothing_entered_needs_both():
    findings = v.check_discrepancy_assessment(
        flagged=True, message=RECON_MESSAGE, assessment="   ", action=""
    )
    assert codes(findings) == ["discrepancy_assessment_missing", "discrepancy_action_missing"]
    assert [f.field for f in findings] == ["discrepancy_assessment", "discrepancy_action"]


@pytest.mark.parametrize(
    ("flagged", "assessment", "action"),
    [(False, "", ""), (True, "Side port study ordered", "workup")],
)
def test_discrepancy_not_flagged_or_assessed_passes(flagged, assessment, action):
    findings = v.check_discrepancy_assessment(
        flagged=flagged, message=RECON_MESSAGE, assessment=assessment, action=action
    )
    assert findings == []


# --------------------------------------------------------------------------- alarm dates


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(
            lambda: v.check_days_to_alarm(D("13.94"), short_days=14),
            "alarm_soon",
            WARNING,
            "The alarm would sound in 13.9 days.",
            "Intervals under 14 days are unusual",
        ),
        case(
            lambda: v.check_days_to_alarm(D("0"), short_days=14),
            "alarm_not_after_refill",
            ERROR,
            "the low-reservoir alarm would sound at once",
            "Check the volumes",
        ),
        case(
            lambda: v.check_days_to_alarm(D("-2.5"), short_days=14),
            "alarm_not_after_refill",
            ERROR,
            "at or below the alarm volume",
            name="negative-days",
        ),
        case(
            lambda: v.check_printed_alarm(
                printed=dt.date(2025, 9, 3), computed=dt.date(2025, 9, 1), tolerance_days=1
            ),
            "printed_alarm_mismatch",
            WARNING,
            "The printout's alarm date (Wed 3 Sep 2025) differs from pumptrack's "
            "(Mon 1 Sep 2025) by 2 days.",
            "rate units",
        ),
        case(
            lambda: v.check_printed_alarm(
                printed=dt.date(2025, 8, 30), computed=dt.date(2025, 9, 1), tolerance_days=1
            ),
            "printed_alarm_mismatch",
            WARNING,
            "by 2 days",
            name="printed-earlier",
        ),
    ],
)
def test_alarm_date_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


@pytest.mark.parametrize("days", [None, D("14"), D("90"), D("0.01")])
def test_days_to_alarm_of_14_or_more_passes(days):
    findings = v.check_days_to_alarm(days, short_days=14)
    if days == D("0.01"):
        assert codes(findings) == ["alarm_soon"]  # after the fill, but very soon
    else:
        assert findings == []


@pytest.mark.parametrize(
    ("printed", "computed"),
    [
        (None, dt.date(2025, 9, 1)),
        (dt.date(2025, 9, 1), None),
        (dt.date(2025, 9, 1), dt.date(2025, 9, 1)),
        (dt.date(2025, 9, 2), dt.date(2025, 9, 1)),  # 1 day apart is tolerated
        (dt.date(2025, 8, 31), dt.date(2025, 9, 1)),
    ],
)
def test_printed_alarm_within_a_day_passes(printed, computed):
    assert v.check_printed_alarm(printed=printed, computed=computed, tolerance_days=1) == []


# --------------------------------------------------------------------------- age


@pytest.mark.parametrize(
    ("call", "code", "severity", "words"),
    [
        case(
            lambda: v.check_age_and_indication(age_years=3, pump_min_age=None, pump_name="X"),
            "age_below_label",
            WARNING,
            "The patient is 3; intrathecal baclofen is labelled for ages 4 and up.",
        ),
        case(
            lambda: v.check_age_and_indication(
                age_years=11, pump_min_age=12, pump_name="Prometra II"
            ),
            "age_below_pump_label",
            WARNING,
            "Prometra II is labelled for baclofen from age 12; the patient is 11.",
        ),
    ],
)
def test_age_findings(call, code, severity, words):
    assert_finding(only(call()), code, severity, words)


@pytest.mark.parametrize(("age", "pump_min_age"), [(4, None), (12, 12), (40, 12), (4, 0)])
def test_age_at_label_minimum_passes(age, pump_min_age):
    assert v.check_age_and_indication(age_years=age, pump_min_age=pump_min_age, pump_name="P") == []


def test_age_3_on_a_prometra_gets_both_warnings():
    findings = v.check_age_and_indication(age_years=3, pump_min_age=12, pump_name="Prometra II")
    assert codes(findings) == ["age_below_label", "age_below_pump_label"]


# --------------------------------------------------------------------------- completeness


def test_every_finding_code_is_tested():
    # refills.validation is a package: read every module of it.
    source = "".join(p.read_text() for p in sorted(Path(v.__file__).parent.glob("*.py")))
    written = set(re.findall(r"_(?:error|warning|physician)\(\s*\"([a-z_]+)\"", source))
    assert len(written) >= 40  # the pattern still finds the rules
    assert written - TESTED_CODES == set()
    assert TESTED_CODES - written == set()
