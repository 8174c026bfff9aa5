"""A dose change split into small saves needs what the whole change needs (issue 8,
domain.md §7.2 #4 and #9).

Each save is measured against every dose in effect during the window before it
(PUMPTRACK_POLICY DOSE_CHANGE_WINDOW_HOURS, 24 h by default): the dose in effect at the
window's start and every dose since. Properties: the level a save needs (none < reason <
physician) is at least what one save from the window's starting dose would need, and
never more than the strictest one-step comparison with a dose in the window.
"""

import datetime as dt
from decimal import Decimal as D

import pytest
from django.conf import settings as dj
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refills import services
from refills import validation as v
from refills.models import Override
from refills.services import ClinicalValidationError
from tests.conftest import program_input, refill_input
from tests.factories import PatientFactory, PumpFactory

LEVEL = {v.Severity.WARNING: 1, v.Severity.PHYSICIAN: 2, v.Severity.ERROR: 3}
CHANGE_CODES = {
    "dose_restart",
    "dose_increase_over_limit",
    "dose_change_confirm",
    "dose_decrease_large",
    "dose_decrease_over_limit",
    "titration_too_fast",
}


def level(findings) -> int:
    return max((LEVEL[f.severity] for f in findings if f.code in CHANGE_CODES), default=0)


def pump_at(dose, *, nurse, clinic, origin="spinal", since_days=30):
    """A filled pump whose program (``dose`` mcg/day) has run for ``since_days``."""
    patient = PatientFactory(clinic=clinic, spasticity_origin=origin)
    pump = PumpFactory(patient=patient)
    start = timezone.now() - dt.timedelta(days=since_days)
    services.program_start(
        pump=pump,
        by=nurse,
        program=program_input(dose, 2000),
        effective_from=start,
        reason="Starting dose" if dose > 800 else "",
    )
    services.refill_record(
        pump=pump, by=nurse, data=refill_input(performed_at=start, residual="3", added="20")
    )
    return pump


def change(pump, dose, at, *, by, override=""):
    return services.drug_program_change(
        pump=pump,
        by=by,
        program=program_input(dose, 2000),
        reason="Titration",
        effective_from=at,
        override_reason=override,
    )


# --------------------------------------------------------------------------- the nurse's report


def test_an_increase_split_into_three_saves_needs_a_physician(clinic, nurse, physician):
    # 300 → 355 (10:00) → 420 (11:00) → 497 (12:00): +66 % in two hours, each step < +20 %.
    pump = pump_at(300, nurse=nurse, clinic=clinic)
    noon = timezone.now().replace(microsecond=0)
    change(pump, 355, noon - dt.timedelta(hours=2), by=nurse)  # +18 %: nothing to confirm
    with pytest.raises(ClinicalValidationError) as caught:
        change(pump, 420, noon - dt.timedelta(hours=1), by=nurse)
    # +18 % against 355, but +40 % against the 300 of an hour ago: confirm, and titration.
    assert {f.code for f in caught.value.findings} == {"dose_change_confirm", "titration_too_fast"}
    assert "+40 % against 300 mcg/day in effect 1 hour ago" in caught.value.findings[0].message
    change(pump, 420, noon - dt.timedelta(hours=1), by=nurse, override="Titrating, spasms")
    with pytest.raises(ClinicalValidationError) as caught:
        change(pump, 497, noon, by=nurse, override="Still spastic")
    refused = {f.code: f for f in caught.value.findings}
    assert set(refused) == {"dose_increase_over_limit"}
    message = refused["dose_increase_over_limit"].message
    assert "+66 % against 300 mcg/day in effect 2 hours ago" in message
    assert "300 → 355 → 420 → 497 mcg/day" in message
    assert "Only a physician can override this." in message
    assert pump.programs.count() == 3  # nothing saved
    change(pump, 497, noon, by=physician, override="Reviewed: titrate to 497")
    assert Override.objects.filter(
        rule="dose_increase_over_limit", requires_physician=True
    ).exists()


def test_a_fall_split_into_two_saves_needs_a_physician(clinic, nurse):
    # 497 → 260 → 140 within an hour: −72 %, each step under −50 %.
    pump = pump_at(497, nurse=nurse, clinic=clinic)
    now = timezone.now().replace(microsecond=0)
    change(pump, 260, now - dt.timedelta(hours=1), by=nurse, override="Drowsy")
    with pytest.raises(ClinicalValidationError) as caught:
        change(pump, 140, now, by=nurse, override="Still drowsy")
    (finding,) = caught.value.findings
    assert finding.code == "dose_decrease_over_limit"
    assert "72 % below 497 mcg/day in effect 1 hour ago" in finding.message
    assert "Only a physician can override this." in finding.message
    assert pump.programs.count() == 2


def test_a_refill_with_a_new_program_is_measured_against_the_window(clinic, nurse):
    pump = pump_at(300, nurse=nurse, clinic=clinic)
    now = timezone.now().replace(microsecond=0)
    change(pump, 355, now - dt.timedelta(hours=3), by=nurse)
    change(pump, 420, now - dt.timedelta(hours=2), by=nurse, override="Titrating")
    data = refill_input(performed_at=now - dt.timedelta(minutes=1), residual="10", added="9")
    data.new_program = program_input(497, 2000)
    data.program_change_reason = "Still spastic"
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(pump=pump, by=nurse, data=data, override_reason="Spastic")
    assert "dose_increase_over_limit" in {f.code for f in caught.value.findings}
    assert pump.refills.count() == 1


def test_the_window_is_a_policy_setting(clinic, nurse):
    pump = pump_at(300, nurse=nurse, clinic=clinic)
    noon = timezone.now().replace(microsecond=0)
    change(pump, 355, noon - dt.timedelta(hours=2), by=nurse)
    change(pump, 420, noon - dt.timedelta(hours=1), by=nurse, override="Titrating")
    # A one-hour window starts at 11:00, when 420 was in effect: +18 %, nothing to confirm.
    policy = {**dj.PUMPTRACK_POLICY, "DOSE_CHANGE_WINDOW_HOURS": D("1")}
    with override_settings(PUMPTRACK_POLICY=policy):
        change(pump, 497, noon, by=nurse)
    assert pump.programs.count() == 4


def test_a_change_a_day_later_is_measured_against_the_dose_then(clinic, nurse):
    pump = pump_at(300, nurse=nurse, clinic=clinic)
    now = timezone.now().replace(microsecond=0)
    change(pump, 355, now - dt.timedelta(hours=50), by=nurse)
    change(pump, 420, now - dt.timedelta(hours=25), by=nurse)
    change(pump, 497, now, by=nurse)  # +18 % against 420, the only dose in the last 24 h


def test_a_restart_after_a_stop_stays_at_least_a_warning(clinic, nurse, physician):
    # Stopping needs a physician (−100 %); restarting from 0 has no ratio and needs a reason.
    pump = pump_at(400, nurse=nurse, clinic=clinic)
    now = timezone.now().replace(microsecond=0)
    services.drug_program_change(
        pump=pump,
        by=physician,
        program=program_input(0, 2000, mode="stopped"),
        reason="Infection",
        effective_from=now - dt.timedelta(hours=2),
        override_reason="Stop for catheter work-up",
    )
    with pytest.raises(ClinicalValidationError) as caught:
        change(pump, 400, now, by=nurse)
    assert {f.code for f in caught.value.findings} == {"dose_restart"}
    change(pump, 400, now, by=nurse, override="Catheter fine, resume")


def test_a_low_restart_then_small_steps_is_measured_against_the_restart(clinic, nurse, physician):
    # Stopped 30 hours ago (0 at the window's start), restarted at 100, then 130 and 160:
    # +60 % on the restart dose in two hours, each step under +40 %.
    pump = pump_at(400, nurse=nurse, clinic=clinic)
    now = timezone.now().replace(microsecond=0)
    services.drug_program_change(
        pump=pump,
        by=physician,
        program=program_input(0, 2000, mode="stopped"),
        reason="Infection",
        effective_from=now - dt.timedelta(hours=30),
        override_reason="Stop for catheter work-up",
    )
    change(pump, 100, now - dt.timedelta(hours=2), by=physician, override="Restart low")
    change(pump, 130, now - dt.timedelta(hours=1), by=nurse, override="Titrating")
    with pytest.raises(ClinicalValidationError) as caught:
        change(pump, 160, now, by=nurse, override="Titrating")
    (finding,) = caught.value.findings
    assert finding.code == "dose_increase_over_limit"
    assert "+60 % against 100 mcg/day in effect 1 hour ago" in finding.message
    assert pump.programs.count() == 4


# --------------------------------------------------------------------------- the properties

dose = st.decimals(min_value=D("0"), max_value=D("2000"), places=1)


@st.composite
def window_histories(draw):
    """The dose at the window's start and later doses within it, then the new dose."""
    at = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)
    start = at - dt.timedelta(hours=24)
    first_since = start - dt.timedelta(hours=draw(st.integers(0, 500)))
    offsets = sorted(draw(st.lists(st.integers(1, 24 * 60), max_size=5, unique=True)))
    times = [first_since] + [start + dt.timedelta(minutes=m) for m in offsets]
    doses = [draw(dose) for _ in times]
    earlier = [
        v.DoseInEffect(mcg=d, since=t, until=later)
        for d, t, later in zip(doses, times, [*times[1:], at], strict=True)
    ]
    return earlier, draw(dose), at


@given(
    history=window_histories(),
    origin=st.sampled_from(["spinal", "cerebral"]),
    pediatric=st.booleans(),
)
def test_splitting_never_needs_less_and_the_window_never_needs_more(history, origin, pediatric):
    earlier, new, at = history
    found = v.check_dose_change_in_window(
        earlier=earlier,
        new_mcg=new,
        at=at,
        window_hours=D(24),
        origin=origin,
        pediatric=pediatric,
    )
    got = level(found)
    # No splitting escape: at least what one save from the window's starting dose needs.
    single = v.check_dose_change(
        old_mcg=earlier[0].mcg,
        new_mcg=new,
        origin=origin,
        pediatric=pediatric,
        hours_since_last_change=None,
    )
    assert got >= level(single)
    # Never more than the strictest one-step comparison with a dose in the window (made
    # when the dose was last changed, for the titration rule).
    hours = D((at - earlier[-1].since).total_seconds()) / 3600
    strictest = max(
        level(
            v.check_dose_change(
                old_mcg=d.mcg,
                new_mcg=new,
                origin=origin,
                pediatric=pediatric,
                hours_since_last_change=hours,
            )
        )
        for d in earlier
    )
    assert got <= strictest
    # And every finding says what it compared against.
    for finding in found:
        assert "mcg/day" in finding.message


steps = st.lists(st.decimals(min_value=D("0.55"), max_value=D("1.6"), places=2), max_size=4)


# DB-heavy: each example builds a pump and saves its history, so few examples.
@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.integers(100, 800),
    factors=steps,
    last=st.decimals(min_value=D("0.3"), max_value=D("2"), places=2),
)
def test_no_sequence_of_saves_escapes_through_the_services(
    start, factors, last, clinic, nurse, physician
):
    pump = pump_at(start, nurse=nurse, clinic=clinic)
    now = timezone.now().replace(microsecond=0)
    current = D(start)
    for number, factor in enumerate(factors):
        current = max((current * factor).quantize(D("0.1")), D(1))
        at = now - dt.timedelta(hours=len(factors) - number)
        change(pump, current, at, by=physician, override="Reviewed")
    final = max((current * last).quantize(D("0.1")), D(1))
    single = v.check_dose_change(
        old_mcg=D(start),
        new_mcg=final,
        origin="spinal",
        pediatric=False,
        hours_since_last_change=None,
    )
    needed = level(single)
    required = services.program_findings(
        pump=pump, program=program_input(final, 2000), at=now, by=nurse
    )
    assert level(required) >= needed
    # A nurse cannot save it when one save from the starting dose would need a physician.
    if needed >= LEVEL[v.Severity.PHYSICIAN]:
        count = pump.programs.count()
        with pytest.raises(ClinicalValidationError) as refused:
            change(pump, final, now, by=nurse, override="Nurse's reason")
        assert any(
            f.code in CHANGE_CODES and f.severity == v.Severity.PHYSICIAN
            for f in refused.value.findings
        )
        assert pump.programs.count() == count
