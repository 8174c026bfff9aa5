"""One pump's refill history, from one to three years ago up to the scenario's last refill.

Each refill happens before the stored forecast's refill-by date, the aspirated
residual is the expected residual plus a little noise, and the interval between
refills is spread evenly so the last refill lands where the scenario wants it.
Every write goes through the refills services.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from simple_history.signals import pre_create_historical_record

from demo.scenarios import ACCURACY, INTERVAL_DAYS, OVERRIDE_REASON
from patients.models import Patient, Pump, PumpModel
from refills import services as refill_services
from refills.forecast import expected_residual_ml
from refills.models import (
    AppointmentStatus,
    DiscrepancyAction,
    DrugProduct,
    NeedleCheck,
    PumpForecast,
    Refill,
)
from refills.selectors import current_fill
from refills.services import ClinicalValidationError, ProgramInput, RefillInput

_STAMP_UID = "demo.history.history_dated"


@contextmanager
def history_dated(moment: dt.datetime) -> Iterator[None]:
    """Every audit-trail (simple-history) row written inside is dated `moment`, the
    clinical time of the back-dated record, instead of the load time: an October filter
    of the audit trail then finds October's demo refills. Demo only: the production
    services stamp their history as always (this receiver exists only inside the block,
    and the demo loader is a single-threaded command). Never nested; `moment` is always
    in the past and later than the history written before it, so each record's versions
    stay in order."""

    def stamp(sender, history_instance, **kwargs) -> None:
        history_instance.history_date = moment

    pre_create_historical_record.connect(stamp, weak=False, dispatch_uid=_STAMP_UID)
    try:
        yield
    finally:
        pre_create_historical_record.disconnect(dispatch_uid=_STAMP_UID)


@dataclass
class Course:
    """What a pump's history carries from one refill to the next."""

    concentration: Decimal
    dose: Decimal
    products: dict[Decimal, DrugProduct]


@dataclass
class Profile:
    index: int
    scenario: str
    model: PumpModel
    concentration: Decimal
    start_concentration: Decimal
    dose_mcg: Decimal
    bolus_mcg: Decimal
    boluses_per_day: int
    alarm_volume_ml: Decimal
    history_days: int
    elapsed_u: float
    implanted_days_ago: int | None


class HistoryBuilder:
    """The refill history of one pump, simulated forward through the services.

    Mixed into the demo builder, which provides ``rng``, ``tz``, ``now``, ``local_now``,
    ``today``, ``products``, the staff (``nurse``, ``nurse2``, ``physician``,
    ``scheduler``) and the ``overrides`` count.
    """

    @staticmethod
    def _interval_ok(model, concentration, dose, alarm, *, low=INTERVAL_DAYS[0]) -> bool:
        usable = model.reservoir_capacity_ml - alarm
        conservative_days = usable * concentration / dose / (1 + ACCURACY)
        return low <= conservative_days - 7 and conservative_days - 3 <= INTERVAL_DAYS[1]

    def _at(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=self.tz)

    def _clinic_slot(self, day: dt.date) -> dt.datetime:
        # Inside the default opening hours (09:00 to 17:00): a booking outside needs a reason.
        return self._at(day, self.rng.randint(9, 15), self.rng.choice([0, 30]))

    def _elapsed_days(self, profile: Profile, *, to_alarm: float, to_refill_by: int) -> float:
        """Days between the last refill and now that put the patient in the scenario."""
        u = profile.elapsed_u
        s = profile.scenario
        if s in (
            "low_booked",
            "mod_other_factors",
            "high_eri",
            "crit_alarm_report",
            "crit_symptoms",
        ):
            elapsed = 2 + u * 0.7 * max(to_refill_by - 12, 1)
        elif s == "low_unbooked":
            elapsed = 2 + u * max(to_alarm - 30, 0)
        elif s == "mod_unbooked_approaching":
            elapsed = to_alarm - (17 + 2 * u)
        elif s == "mod_booked_late":
            elapsed = to_alarm - (18.5 + 2 * u)
        elif s == "mod_stability":
            elapsed = 10 + 100 * u
        elif s == "mod_replacement":
            elapsed = 5 + 10 * u
        elif s == "high_unbooked_soon":
            elapsed = to_alarm - (5 + 6 * u)
        elif s == "high_missed":
            elapsed = to_alarm - (24 + 8 * u)
        elif s == "high_discrepancy":
            elapsed = 3 + 10 * u
        elif s == "high_risk_factor_unbooked":
            elapsed = to_alarm - (16 + 3 * u)
        elif s == "crit_overdue":
            elapsed = to_alarm + 1.5 + 1.5 * u
        else:  # pragma: no cover - every scenario is listed above
            raise ValueError(s)
        return max(elapsed, 5.0 if s == "high_missed" else 1.5)

    def _history(self, patient: Patient, pump: Pump, profile: Profile) -> None:
        """Refills from the start of the history to the last one the scenario wants.

        Each refill comes before the stored forecast's refill-by date, and the interval
        is spread evenly so the last refill lands where the scenario puts it.
        """
        rng = self.rng
        course = Course(
            concentration=profile.start_concentration,
            dose=profile.dose_mcg,
            products={c: rng.choice(self.products[c]) for c in self.products},
        )
        at = self._first_fill(pump, profile, course)
        while True:
            stored = PumpForecast.objects.get(pump=pump)
            at_day = timezone.localtime(at, self.tz).date()
            to_refill_by = (stored.refill_by - at_day).days
            to_alarm = (stored.conservative_alarm_at - at).total_seconds() / 86400
            elapsed = self._elapsed_days(profile, to_alarm=to_alarm, to_refill_by=to_refill_by)
            last_day = self.today - dt.timedelta(days=round(elapsed))
            gap = (last_day - at_day).days
            max_step = to_refill_by - 1
            if gap <= max_step:
                self._last_refill(pump, profile, course, last_day)
                return
            at = self._next_refill(
                pump, patient, profile, course, at_day=at_day, gap=gap, max_step=max_step
            )

    def _first_fill(self, pump: Pump, profile: Profile, course: Course) -> dt.datetime:
        """The first program and the first fill pumptrack knows of: nothing to reconcile."""
        concentration = course.concentration
        start_day = self.today - dt.timedelta(days=profile.history_days)
        first_at = self._clinic_slot(start_day)
        self._program_start(
            pump,
            ProgramInput(
                drug_product=course.products[concentration],
                concentration_mcg_per_ml=concentration,
                basal_daily_dose_mcg=profile.dose_mcg - profile.bolus_mcg * profile.boluses_per_day,
                bolus_dose_mcg=profile.bolus_mcg,
                boluses_per_day=profile.boluses_per_day,
            ),
            effective_from=first_at - dt.timedelta(minutes=10),
        )
        self._refill(
            pump,
            scheduled_at=first_at,
            product=course.products[concentration],
            concentration=concentration,
            residual=Decimal(self.rng.randint(15, 45)) / 10,
        )
        return first_at

    def _last_refill(self, pump: Pump, profile: Profile, course: Course, day: dt.date) -> None:
        """The refill the scenario starts from, at least two hours before now."""
        scheduled = self._clinic_slot(day)
        latest = self.local_now - dt.timedelta(hours=2)
        if scheduled > latest:
            scheduled = latest.replace(minute=0, second=0, microsecond=0)
        self._refill(
            pump,
            scheduled_at=scheduled,
            product=course.products[course.concentration],
            concentration=course.concentration,
            discrepancy=profile.scenario == "high_discrepancy",
        )

    def _next_refill(
        self,
        pump: Pump,
        patient: Patient,
        profile: Profile,
        course: Course,
        *,
        at_day: dt.date,
        gap: int,
        max_step: int,
    ) -> dt.datetime:
        """One refill of the history (a missed visit before it, now and then); its time."""
        rng = self.rng
        # Headroom for the jitter and the weekend shift (up to 4 days), so the
        # remainder always fits in the last interval instead of being halved.
        steps = math.ceil(gap / (max_step - 4))
        step = min(max_step, math.ceil(gap / steps)) - rng.randint(0, 2)
        next_day = at_day + dt.timedelta(days=step)
        while next_day.weekday() >= 5:  # the clinic refills on weekdays
            next_day -= dt.timedelta(days=1)
        missed_at = None
        if rng.random() < 0.04 and (next_day - at_day).days > 20:
            missed_at = self._missed_slot(next_day - dt.timedelta(days=rng.randint(2, 6)))
        new_concentration, new_program, reason = self._program_change(
            pump, patient, profile, course, gap=gap, max_step=max_step
        )
        old_concentration = course.concentration
        course.concentration = new_concentration
        refill = self._refill(
            pump,
            scheduled_at=self._clinic_slot(next_day),
            product=course.products[course.concentration],
            concentration=course.concentration,
            old_concentration=old_concentration,
            new_program=new_program,
            program_change_reason=reason,
        )
        if missed_at is not None:
            # Recorded after the refill that answered it: recorded before, the refill
            # would count as the missed visit's. Its history is dated just after that
            # refill, when it was entered, so no record's versions go back in time.
            with history_dated(refill.performed_at + dt.timedelta(minutes=1)):
                refill_services.appointment_record_past(
                    pump=pump,
                    by=self.scheduler,
                    scheduled_start=missed_at,
                    status=AppointmentStatus.MISSED,
                    status_changed_at=missed_at + dt.timedelta(hours=2),
                    notes="No-show; rebooked by phone.",
                )
        return refill.performed_at

    def _program_change(
        self, pump: Pump, patient: Patient, profile: Profile, course: Course, *, gap, max_step
    ) -> tuple[Decimal, ProgramInput | None, str]:
        """Now and then a new strength, or a titration of the dose, at a refill."""
        rng = self.rng
        concentration, dose = course.concentration, course.dose
        if gap > 3 * max_step and concentration != profile.concentration and (rng.random() < 0.4):
            return profile.concentration, None, ""
        if not (gap > 2 * max_step and rng.random() < 0.12 and profile.scenario != "mod_stability"):
            return concentration, None, ""
        factor = Decimal(rng.choice(["0.9", "1.1", "1.15"]))
        new_dose = (dose * factor / 10).quantize(Decimal(1)) * 10
        upper = Decimal(700 if patient.spasticity_origin == "cerebral" else 800)
        bolus_total = profile.bolus_mcg * profile.boluses_per_day
        if not (
            Decimal(100) <= new_dose <= upper
            and new_dose != dose
            and self._interval_ok(pump.model, concentration, new_dose, pump.alarm_volume_ml)
        ):
            return concentration, None, ""
        course.dose = new_dose
        reason = "Titration for rising tone" if factor > 1 else "Reduced for daytime weakness"
        program = ProgramInput(
            drug_product=course.products[concentration],
            concentration_mcg_per_ml=concentration,
            basal_daily_dose_mcg=new_dose - bolus_total,
            bolus_dose_mcg=profile.bolus_mcg,
            boluses_per_day=profile.boluses_per_day,
        )
        return concentration, program, reason

    def _program_start(self, pump: Pump, program: ProgramInput, *, effective_from) -> None:
        with history_dated(effective_from):
            self._program_start_as_nurse(pump, program, effective_from=effective_from)

    def _program_start_as_nurse(self, pump: Pump, program: ProgramInput, *, effective_from):
        try:
            refill_services.program_start(
                pump=pump, by=self.nurse, program=program, effective_from=effective_from
            )
        except ClinicalValidationError as exc:
            if any(f.blocks for f in exc.findings):
                raise
            self.overrides += 1
            refill_services.program_start(
                pump=pump,
                by=self.physician,
                program=program,
                effective_from=effective_from,
                reason=OVERRIDE_REASON,
            )

    def _with_override(self, service: Callable, **kwargs):
        """Call a service as a nurse; give the warnings it raises a physician's override."""
        try:
            return service(by=self.nurse, **kwargs)
        except ClinicalValidationError as exc:
            if not exc.findings or any(f.blocks for f in exc.findings):
                raise
            self.overrides += 1
            return service(by=self.physician, override_reason=OVERRIDE_REASON, **kwargs)

    def _refill(
        self,
        pump: Pump,
        *,
        scheduled_at: dt.datetime,
        product: DrugProduct,
        concentration: Decimal,
        residual: Decimal | None = None,
        old_concentration: Decimal | None = None,
        new_program: ProgramInput | None = None,
        program_change_reason: str = "",
        discrepancy: bool = False,
    ) -> Refill:
        rng = self.rng
        performed_at = scheduled_at + dt.timedelta(minutes=rng.randint(5, 35))
        if performed_at > self.now:
            performed_at = self.now - dt.timedelta(minutes=30)
        capacity = pump.model.reservoir_capacity_ml
        expected = None
        assessment = action = ""
        if residual is None:
            fill, _ = current_fill(pump=pump, at=performed_at)
            expected = expected_residual_ml(fill, performed_at)
            if discrepancy:
                # Under-delivery: clearly more left than expected (> 2 mL).
                noise = Decimal(rng.randint(26, 34)) / 10
                assessment = (
                    "More drug left in the reservoir than expected: the pump delivered less "
                    "than programmed. Patient reports slightly increased tone. Catheter "
                    "work-up ordered; physician informed."
                )
                action = DiscrepancyAction.WORKUP
            else:
                # Small, and never near the 15 % relative threshold after a short interval.
                limit = (fill.volume_ml - expected) / 20
                noise = min(max(Decimal(rng.randint(-3, 3)) / 10, -limit), limit)
            residual = min(max(expected + noise, Decimal(0)), capacity).quantize(Decimal("0.1"))
        bridge = {}
        if old_concentration is not None and old_concentration != concentration:
            bridge = {
                "bridge_bolus_ml": Decimal("0.25"),
                "bridge_bolus_mcg": (old_concentration * Decimal("0.25")).quantize(Decimal("0.1")),
            }
        data = RefillInput(
            performed_at=performed_at,
            actual_residual_ml=residual,
            volume_added_ml=capacity,
            resulting_volume_ml=capacity,
            drug_product=product,
            concentration_mcg_per_ml=concentration,
            lot_number=f"DL{performed_at:%y%m}{rng.randint(1000, 9999)}",
            lot_expiry=performed_at.date() + dt.timedelta(days=rng.randint(200, 600)),
            needle_placement=NeedleCheck.TEMPLATE_AND_STOP,
            needle_placement_confirmed=True,
            residual_left_ml=Decimal(0),
            programmer_expected_residual_ml=(
                expected.quantize(Decimal("0.1")) if expected is not None else None
            ),
            residual_appearance="Clear",
            discrepancy_assessment=assessment,
            discrepancy_action=action,
            symptom_screen_done=True,
            second_checker=self.nurse2 if rng.random() < 0.3 else None,
            new_program=new_program,
            program_change_reason=program_change_reason,
            **bridge,
        )
        with history_dated(performed_at):
            refill = self._with_override(refill_services.refill_record, pump=pump, data=data)
            # The visit it completed, entered as history: completed when the refill was done.
            refill_services.appointment_record_past(
                pump=pump,
                by=self.scheduler,
                scheduled_start=scheduled_at,
                status=AppointmentStatus.COMPLETED,
                status_changed_at=refill.performed_at,
                completed_refill=refill,
            )
        return refill

    def _missed_slot(self, day: dt.date) -> dt.datetime:
        """The start of a refill visit in the past that the patient did not come to."""
        while day.weekday() >= 5:
            day -= dt.timedelta(days=1)
        return self._at(day, self.rng.randint(8, 15))
