"""A pump's whole history, built through the services, with the invariants checked
after every step (issue 8, "The invariants").

``PumpHistory`` is a hypothesis ``RuleBasedStateMachine``: a clinic in a random zone
(DST, southern DST, Lord Howe's 30-minute shift), a pump, and then refills, program
changes (simple, flex, scheduled boluses), bookings, reschedules, cancellations,
missed visits, completions, pump reports, ERI, planned replacements, replacement of
the pump, the oral bridge, time travel, the sweep and the sends. Each example runs in
a transaction that is rolled back, on a frozen clock that only the rules move.

A subclass names the invariant families it checks (``families``), so a property that
a known defect breaks can be split out and marked xfail on its own.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from decimal import Decimal

import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from patients import services as patient_services
from patients.models import Pump
from refills import services
from refills.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    DiscrepancyAction,
    DosingMode,
    NeedleCheck,
    PumpReport,
    ReportKind,
)
from reminders.alerts.actions import alert_resolve
from reminders.delivery import notification_send
from reminders.models import Alert, AlertState, Notification, NotificationStatus
from reminders.sweep import sweep_run
from tests.factories import drug_product, pump_model
from tests.invariants.conftest import (
    ALL,
    OPEN_ITEMS,
    ZONES,
    World,
    message_violations,
    new_world,
    snapshot,
    stored,
    violations,
)

OVERRIDE = "Invariant test: reviewed"
REFUSED = (ValidationError,)  # ClinicalValidationError is a ValidationError

# Starts spread over two years, so DST changes in both hemispheres fall inside histories.
STARTS = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2026, 12, 31)).map(
    lambda moment: moment.replace(tzinfo=dt.UTC)
)
# Implant ages: new, and close to the 7-year automatic shut-down (2557 days).
IMPLANT_AGES = st.sampled_from([400, 2557 - 200, 2557 - 40, 2557 - 10])
DOSE_RATIOS = st.sampled_from(["0.4", "0.6", "0.9", "1", "1.1", "1.25", "1.5", "2.5"])
CONCENTRATIONS = st.sampled_from([1000, 2000])


def _program(dose, concentration, *, mode="simple", bolus=0, per_day=0):
    dose = Decimal(dose).quantize(Decimal("0.1"))
    flex = []
    if mode == DosingMode.FLEX:
        # Two 12-hour steps: a higher night rate, the daily total about `dose`.
        night = (dose * Decimal("0.6") / 12).quantize(Decimal("0.01"))
        day = (dose * Decimal("0.4") / 12).quantize(Decimal("0.01"))
        flex = [
            (dt.time(0, 0), Decimal(12), night),
            (dt.time(12, 0), Decimal(12), day),
        ]
    return services.ProgramInput(
        drug_product=drug_product(concentration),
        concentration_mcg_per_ml=Decimal(concentration),
        mode=mode,
        basal_daily_dose_mcg=None if mode == DosingMode.FLEX else dose,
        flex_steps=flex,
        bolus_dose_mcg=Decimal(bolus),
        boluses_per_day=per_day,
    )


# Saves that went through, by rule, over a whole run. A run in which (say) every refill
# was refused would check nothing while looking green: test_histories asserts on this.
ACCEPTED: Counter[str] = Counter()


class PumpHistory(RuleBasedStateMachine):
    families = ALL

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self._travel = None
        self.clock = None
        self.world: World | None = None
        self.dose = Decimal(400)
        self.concentration = 2000
        self.refused = 0

    def teardown(self):
        try:
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)
        finally:
            if self._travel is not None:
                self._travel.stop()

    # ------------------------------------------------------------------ helpers

    @property
    def now(self) -> dt.datetime:
        return timezone.now()

    @property
    def pump(self) -> Pump:
        return Pump.objects.select_related("model", "patient__clinic").get(pk=self.world.pump.pk)

    def by(self, physician: bool):
        return self.world.physician if physician else self.world.nurse

    def attempt(self, action):
        """Run a save; if it is refused, nothing of the pump's may have changed."""
        before = snapshot(self.world.pump)
        rule_name = sys._getframe(1).f_code.co_name
        try:
            with transaction.atomic():
                result = action()
            ACCEPTED[rule_name] += 1
            return result
        except REFUSED:
            self.refused += 1
            after = snapshot(self.world.pump)
            changed = {name for name in before if before[name] != after[name]}
            assert not changed, f"a refused save wrote {sorted(changed)}"
            return None

    def fill(self, *, at, residual, added, concentration, new_dose=None, action="", physician=True):
        data = services.RefillInput(
            performed_at=at,
            actual_residual_ml=Decimal(residual),
            volume_added_ml=Decimal(added),
            resulting_volume_ml=Decimal(added),
            drug_product=drug_product(concentration),
            concentration_mcg_per_ml=Decimal(concentration),
            lot_number="LOT-INV-1",
            lot_expiry=timezone.localdate(timezone=self.world.zone) + dt.timedelta(days=365),
            needle_placement=NeedleCheck.TEMPLATE_AND_STOP,
            needle_placement_confirmed=True,
            bridge_not_needed_reason="Invariant test: same-day review",
            discrepancy_assessment="Invariant test assessment",
            discrepancy_action=action,
            symptom_screen_done=True,
            new_program=(_program(new_dose, concentration) if new_dose is not None else None),
            program_change_reason="Invariant test" if new_dose is not None else "",
        )
        return services.refill_record(
            pump=self.world.pump,
            by=self.by(physician),
            data=data,
            override_reason=OVERRIDE if physician else "",
        )

    def start_pump(self, at, dose, concentration, residual="0"):
        services.program_start(
            pump=self.world.pump,
            by=self.world.physician,
            program=_program(dose, concentration),
            effective_from=at,
            reason=OVERRIDE,
        )
        self.fill(at=at, residual=residual, added="20", concentration=concentration)
        self.dose, self.concentration = Decimal(dose), concentration

    def scheduled(self):
        return list(
            Appointment.objects.filter(
                pump=self.world.pump, status=AppointmentStatus.SCHEDULED
            ).order_by("scheduled_start")
        )

    def local_start(self, days_ahead: int, hour: int) -> dt.datetime:
        zone = self.world.zone
        day = self.now.astimezone(zone).date() + dt.timedelta(days=days_ahead)
        return dt.datetime.combine(day, dt.time(hour, 0), tzinfo=zone)

    # ------------------------------------------------------------------ start

    @initialize(
        zone=st.sampled_from(ZONES),
        start=STARTS,
        implanted_days_ago=IMPLANT_AGES,
        at_risk=st.booleans(),
        dose=st.sampled_from([100, 250, 400, 700]),
        concentration=CONCENTRATIONS,
        filled_days_ago=st.integers(0, 120),
    )
    def setup(self, zone, start, implanted_days_ago, at_risk, dose, concentration, filled_days_ago):
        self._travel = time_machine.travel(start, tick=False)
        self.clock = self._travel.start()
        self.world = new_world(
            zone,
            implanted_days_ago=implanted_days_ago,
            prior_withdrawal=at_risk,
        )
        at = self.now - dt.timedelta(days=filled_days_ago, minutes=7)
        self.start_pump(at, dose, concentration)

    # ------------------------------------------------------------------ rules

    @rule(
        minutes_ago=st.integers(1, 600),
        residual=st.sampled_from(["0", "1.5", "3", "5", "9", "14"]),
        added=st.sampled_from(["10", "15", "18", "20"]),
        concentration=CONCENTRATIONS,
        ratio=st.none() | DOSE_RATIOS,
        action=st.sampled_from(
            ["", DiscrepancyAction.WORKUP, DiscrepancyAction.ENTRY_ERROR, DiscrepancyAction.OBSERVE]
        ),
        physician=st.booleans(),
    )
    def refill(self, minutes_ago, residual, added, concentration, ratio, action, physician):
        at = self.now - dt.timedelta(minutes=minutes_ago)
        new_dose = None if ratio is None else self.dose * Decimal(ratio)
        done = self.attempt(
            lambda: self.fill(
                at=at,
                residual=residual,
                added=added,
                concentration=concentration,
                new_dose=new_dose,
                action=action or DiscrepancyAction.WORKUP,
                physician=physician,
            )
        )
        if done is not None:
            self.concentration = concentration
            self.dose = done.program.daily_dose_mcg

    @rule(
        ratio=DOSE_RATIOS,
        # A stopped program (0 mcg/day) too; the next change restarts the pump.
        mode=st.sampled_from([DosingMode.SIMPLE, DosingMode.FLEX, DosingMode.STOPPED]),
        boluses=st.sampled_from([(0, 0), (25, 1), (20, 2)]),
        minutes_ago=st.integers(0, 240),
        physician=st.booleans(),
    )
    def change_program(self, ratio, mode, boluses, minutes_ago, physician):
        bolus, per_day = boluses
        basal = self.dose * Decimal(ratio)
        if mode == DosingMode.STOPPED:
            basal, bolus, per_day = Decimal(0), 0, 0
        program = _program(basal, self.concentration, mode=mode, bolus=bolus, per_day=per_day)
        done = self.attempt(
            lambda: services.drug_program_change(
                pump=self.world.pump,
                by=self.by(physician),
                program=program,
                reason="Invariant test: tone",
                effective_from=self.now - dt.timedelta(minutes=minutes_ago),
                override_reason=OVERRIDE if physician else "",
            )
        )
        if done is not None and done.daily_dose_mcg == 0:
            ACCEPTED["stop_pump"] += 1
        elif done is not None:
            self.dose = done.daily_dose_mcg

    @rule(
        days_ahead=st.integers(0, 60),
        hour=st.sampled_from([0, 8, 11, 16, 23]),
        kind=st.sampled_from([AppointmentKind.REFILL, AppointmentKind.REFILL, "replacement"]),
        physician=st.booleans(),
    )
    def book(self, days_ahead, hour, kind, physician):
        self.attempt(
            lambda: services.appointment_book(
                pump=self.world.pump,
                by=self.by(physician),
                scheduled_start=self.local_start(days_ahead, hour),
                kind=kind,
                override_reason=OVERRIDE if physician else "",
            )
        )

    @precondition(lambda self: self.world is not None)
    @rule(which=st.integers(0, 3), days_ahead=st.integers(0, 40), physician=st.booleans())
    def reschedule(self, which, days_ahead, physician):
        candidates = list(
            Appointment.objects.filter(
                pump=self.world.pump,
                status__in=[AppointmentStatus.SCHEDULED, AppointmentStatus.MISSED],
            ).order_by("pk")
        )
        if not candidates:
            return
        appointment = candidates[which % len(candidates)]
        self.attempt(
            lambda: services.appointment_reschedule(
                appointment=appointment,
                by=self.by(physician),
                scheduled_start=self.local_start(days_ahead, 10),
                override_reason=OVERRIDE if physician else "",
            )
        )

    @rule(which=st.integers(0, 3), reason=st.sampled_from(["Patient unwell", " "]))
    def cancel(self, which, reason):
        candidates = self.scheduled()
        if candidates:
            appointment = candidates[which % len(candidates)]
            self.attempt(
                lambda: services.appointment_cancel(
                    appointment=appointment, by=self.world.nurse, reason=reason
                )
            )

    @rule(which=st.integers(0, 3))
    def mark_missed(self, which):
        candidates = [a for a in self.scheduled() if a.scheduled_start <= self.now]
        if candidates:
            appointment = candidates[which % len(candidates)]
            self.attempt(lambda: services.appointment_mark_missed(appointment=appointment))

    @rule(which=st.integers(0, 3))
    def complete_check_visit(self, which):
        """A non-refill visit completed; a refill visit needs a refill (refused)."""
        candidates = self.scheduled()
        if candidates:
            appointment = candidates[which % len(candidates)]
            self.attempt(
                lambda: services.appointment_complete(appointment=appointment, by=self.world.nurse)
            )

    @rule(kind=st.sampled_from(list(ReportKind)), hours_ago=st.integers(0, 48))
    def report(self, kind, hours_ago):
        self.attempt(
            lambda: services.pump_report_record(
                pump=self.world.pump,
                by=self.world.nurse,
                kind=kind,
                reported_at=self.now - dt.timedelta(hours=hours_ago),
                details="Invariant test",
            )
        )

    @rule(
        which=st.integers(0, 3),
        resolution=st.sampled_from(["Seen in clinic", "", "x"]),
        outcome=st.sampled_from(["refilled", "", "interrogated"]),
    )
    def resolve_report(self, which, resolution, outcome):
        open_reports = list(
            PumpReport.objects.filter(pump=self.world.pump, resolved_at__isnull=True).order_by("pk")
        )
        if open_reports:
            report = open_reports[which % len(open_reports)]
            self.attempt(
                lambda: services.pump_report_resolve(
                    report=report, by=self.world.nurse, resolution=resolution, outcome=outcome
                )
            )

    # Only in the open-items histories, so the other families keep their own histories.
    @precondition(lambda self: OPEN_ITEMS in self.families)
    @rule(which=st.integers(0, 5))
    def resolve_alert(self, which):
        """A person resolves one open alert while others (or a report) may stay open."""
        open_alerts = list(
            Alert.objects.filter(pump=self.world.pump)
            .exclude(state=AlertState.RESOLVED)
            .order_by("pk")
        )
        if open_alerts:
            alert = open_alerts[which % len(open_alerts)]
            self.attempt(
                lambda: alert_resolve(alert=alert, by=self.world.nurse, note="Called the patient")
            )

    @rule(days_ago=st.integers(-30, 120))
    def record_eri(self, days_ago):
        today = timezone.localdate(timezone=self.world.zone)
        self.attempt(
            lambda: patient_services.pump_update(
                pump=self.pump, eri_on=today - dt.timedelta(days=days_ago)
            )
        )

    @rule(days_ahead=st.integers(-5, 400) | st.none())
    def plan_replacement(self, days_ahead):
        today = timezone.localdate(timezone=self.world.zone)
        planned = None if days_ahead is None else today + dt.timedelta(days=days_ahead)
        self.attempt(
            lambda: patient_services.pump_update(pump=self.pump, planned_replacement_on=planned)
        )

    @rule(alarm=st.sampled_from(["2.0", "3.0", "4.0"]))
    def set_alarm_volume(self, alarm):
        self.attempt(
            lambda: patient_services.pump_update(pump=self.pump, alarm_volume_ml=Decimal(alarm))
        )

    @rule(serial=st.integers(0, 10**6))
    def replace_pump(self, serial):
        old = self.pump

        def action():
            new = patient_services.pump_implant(
                patient=old.patient,
                model=pump_model("8637-20"),
                serial_number=f"INV{serial:07d}",
                implanted_on=timezone.localdate(timezone=self.world.zone),
                replaces=old,
                by=self.world.nurse,
            )
            self.world.pump = new
            self.start_pump(self.now - dt.timedelta(minutes=2), self.dose, self.concentration)
            return new

        if self.attempt(action) is None:
            self.world.pump = old

    @rule()
    def oral_bridge_never_calms(self):
        patient = self.world.patient
        patient.refresh_from_db()
        if patient.oral_baclofen_bridge:
            return
        services.forecast_refresh(pump=self.world.pump)
        before = stored(self.world.pump).risk_tier
        patient_services.patient_update(patient=patient, oral_baclofen_bridge=True)
        after = stored(self.world.pump).risk_tier
        assert after >= before, f"the oral bridge lowered the tier from {before} to {after}"

    @rule(hours=st.sampled_from([1, 5, 23, 24, 25, 72, 24 * 7, 24 * 20]))
    def time_passes(self, hours):
        """Time passing without a refill never lowers the tier."""
        services.forecast_refresh(pump=self.world.pump)
        before = stored(self.world.pump)
        self.clock.shift(dt.timedelta(hours=hours))
        services.forecast_refresh(pump=self.world.pump)
        after = stored(self.world.pump)
        assert after.risk_tier >= before.risk_tier, (
            f"{hours} h without a refill lowered the tier from {before.risk_tier} "
            f"({before.risk_reasons}) to {after.risk_tier} ({after.risk_reasons})"
        )

    @rule(minutes=st.sampled_from([0, 1, 31, 61]))
    def sweep_and_send(self, minutes):
        self.clock.shift(dt.timedelta(minutes=minutes))
        published = []
        sweep_run(now=self.now, publish=published.append)
        self.send_pending()

    def send_pending(self):
        now = self.now
        pending = Notification.objects.filter(
            status=NotificationStatus.PENDING, not_before__lte=now
        ).values_list("pk", flat=True)
        problems = []
        for pk in list(pending):
            outcome = notification_send(notification_id=pk, now=now).outcome
            if outcome == "sent":
                sent = Notification.objects.select_related(
                    "appointment", "patient__clinic", "caregiver"
                ).get(pk=pk)
                problems += message_violations(sent, now=now)
        self.message_problems(problems)

    def message_problems(self, problems):
        """Messages are checked in their own split-out test (issue 8 #6)."""
        if "messages" in self.families:
            assert not problems, problems

    # ------------------------------------------------------------------ invariants

    @invariant()
    def forecast_tier_and_alerts_hold(self):
        if self.world is None:
            return
        found = violations(self.world.pump, now=self.now, families=self.families)
        assert not found, found
