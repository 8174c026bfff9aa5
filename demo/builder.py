"""A deterministic, invented demo clinic for `manage.py seed_demo` (run by `make run`).

Everything here is fiction: invented names, MRNs DEMO-0001..., phone numbers in
the 555-01xx range reserved for fiction, addresses @example.org. Every clinical
write goes through the services, so the stored forecasts and withdrawal-risk
tiers are exactly what the application computes for the same history.

The generator is pure in its inputs: ``random.Random(seed)`` and a ``now`` passed
in. The services read the real clock (refills cannot be in the future, bookings
cannot be in the past, pumps cannot be implanted tomorrow), so ``now`` must be
the current time; a test pins both with ``time_machine``.

Each patient is given a scenario that decides how the last refill interval
looks today (booked in time, unbooked and close to the alarm, a missed
appointment, an open critical report...). The history before it is simulated
forward from one to three years ago: each refill happens before the stored
forecast's refill-by date, the aspirated residual is the expected residual
plus a little noise, and the interval between refills is spread evenly so
the last refill lands where the scenario wants it.

Logs carry ids and counts only, never names.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import staff_account_set_up
from demo.history import HistoryBuilder, Profile, history_dated
from demo.scenarios import (
    AREA_CODES,
    CAREGIVER_NAMES,
    DEMO_CLINIC_NAME,
    DEMO_PASSWORD,
    DEMO_ROLE,
    DEMO_SEED,
    DEMO_TIMEZONE,
    DEMO_USERNAME,
    FAMILY_NAMES,
    GIVEN_NAMES,
    INTENDED_TIER,
    PATIENT_COUNT,
    PROMETRA,
    SCENARIOS,
    STAFF,
    SYNCHROMED,
)
from patients.models import Channel, Clinic, Patient, Pump, PumpModel, SpasticityOrigin
from patients.services import (
    caregiver_add,
    clinic_create,
    patient_create,
    pump_implant,
    pump_update,
)
from refills import services as refill_services
from refills.models import (
    Appointment,
    AppointmentKind,
    DrugProduct,
    PumpForecast,
    Refill,
    ReportKind,
)
from refills.risk import Tier
from reminders.hooks import reviews_paused

__all__ = ["DEMO_CLINIC_NAME", "DEMO_SEED", "PATIENT_COUNT", "DemoDisabled", "load_demo"]

logger = logging.getLogger(__name__)


class DemoDisabled(ImproperlyConfigured):
    """The settings do not allow a demo login (production must never get demo/demo)."""


def demo_enabled() -> bool:
    return getattr(settings, "DEMO_LOGIN_ENABLED", False) is True


@dataclass
class DemoResult:
    loaded: bool
    message: str
    clinic_id: int | None = None
    patients: int = 0
    pumps: int = 0
    refills: int = 0
    appointments: dict[str, int] = field(default_factory=dict)
    discrepancies_flagged: int = 0
    overrides: int = 0
    tiers: dict[str, int] = field(default_factory=dict)
    tier_mismatches: list[tuple[int, str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """A summary with ids and counts only."""
        if not self.loaded:
            return [self.message]
        appts = ", ".join(f"{k} {v}" for k, v in sorted(self.appointments.items()))
        tiers = ", ".join(f"{t.name} {self.tiers.get(t.name, 0)}" for t in Tier)
        lines = [
            self.message,
            f"Clinic id {self.clinic_id}: {self.patients} patients, {self.pumps} pumps, "
            f"{self.refills} refills, {self.discrepancies_flagged} flagged discrepancies, "
            f"{self.overrides} overrides.",
            f"Appointments: {appts}.",
            f"Withdrawal-risk tiers: {tiers}.",
        ]
        for patient_id, intended, actual in self.tier_mismatches:
            lines.append(
                f"Note: patient id {patient_id} is {actual} (scenario aimed at {intended})."
            )
        lines.append(
            f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD} ({DEMO_ROLE.label} at the demo clinic; "
            "the Django admin is for platform operators only)."
        )
        lines.append(f"Every demo role has a login, password {DEMO_PASSWORD}: {demo_logins()}.")
        return lines


def demo_logins() -> str:
    """'demo (Nurse), ..., demo.manager (Manager, two-factor set-up first)': each demo
    staff account with its role, and whether the role asks for two-factor first."""
    two_factor = set(settings.PUMPTRACK_2FA_REQUIRED_ROLES)
    return ", ".join(
        f"{username} ({Role(role).label}"
        f"{', two-factor set-up first' if role in two_factor else ''})"
        for username, _first, _last, role, _escalations in STAFF
    )


def load_demo(*, now: dt.datetime, seed: int = DEMO_SEED, if_empty: bool = False) -> DemoResult:
    """Create the demo clinic unless it (or, with ``if_empty``, any patient) exists."""
    if not demo_enabled():
        raise DemoDisabled(
            "Demo data creates the login demo/demo and is only allowed when the settings "
            "set DEMO_LOGIN_ENABLED = True (pumptrack.settings.local does)."
        )
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    if Patient.objects.filter(clinic__name=DEMO_CLINIC_NAME).exists():
        return DemoResult(loaded=False, message="Demo data already loaded.")
    if if_empty and Patient.objects.exists():
        return DemoResult(
            loaded=False, message="The database already has patients; demo data not loaded."
        )
    with transaction.atomic():
        builder = _Builder(now=now, seed=seed)
        builder.build()
    return builder.result()


# --------------------------------------------------------------------------- builder


class _Builder(HistoryBuilder):
    def __init__(self, *, now: dt.datetime, seed: int):
        self.rng = random.Random(seed)
        self.tz = ZoneInfo(DEMO_TIMEZONE)
        self.now = now
        self.local_now = timezone.localtime(now, self.tz)
        self.today = self.local_now.date()
        self.overrides = 0
        self.pumps: list[tuple[Pump, str]] = []
        self.clinic: Clinic | None = None

    # ----------------------------------------------------------------- set-up

    def build(self) -> None:
        self.clinic = self._clinic()
        self.staff = self._staff()
        self.nurse = self.staff["demo.nurse"]
        self.nurse2 = self.staff["demo.nurse2"]
        self.physician = self.staff["demo.physician"]
        self.scheduler = self.staff["demo.scheduler"]
        self.models = {m.model_number: m for m in PumpModel.objects.order_by("pk")}
        missing = set(SYNCHROMED + PROMETRA) - set(self.models)
        if missing:
            raise ImproperlyConfigured(f"Pump models missing (run migrate): {sorted(missing)}")
        self.products = self._products()
        scenarios = [name for name, count, _ in SCENARIOS for _ in range(count)]
        self.rng.shuffle(scenarios)
        family = list(FAMILY_NAMES)
        self.rng.shuffle(family)
        # Years of back-dated refills are entered at the real "now": reviewed step by step,
        # every early refill would queue a "please book before <a date years ago>" message
        # and raise and clear staff alerts. Each step still stores its forecast (the next
        # refill's date and its refill-by date are read from it).
        with reviews_paused():
            for index, scenario in enumerate(scenarios, start=1):
                self._patient(index, scenario, GIVEN_NAMES[index - 1], family[index - 1])
        # The final state, reviewed once at the demo's now: the alerts and messages it calls for.
        for pump, _ in self.pumps:
            refill_services.forecast_refresh(pump=pump, now=self.now)

    def _clinic(self) -> Clinic:
        clinic = Clinic.objects.filter(name=DEMO_CLINIC_NAME).first()
        if clinic is None:
            clinic = clinic_create(
                name=DEMO_CLINIC_NAME,
                timezone=DEMO_TIMEZONE,
                phone="+12025550100",
                after_hours_phone="+12025550199",
                default_refill_margin_days=3,
            )
        logger.info("Demo clinic id %s", clinic.pk)
        return clinic

    def _staff(self) -> dict[str, User]:
        # Hashed once (a real hash, about a second of work) for every demo login, one
        # per role; make_password skips the password validators on purpose: local demo
        # only. None has staff status (the admin is operators').
        demo_password = make_password(DEMO_PASSWORD)
        users = {}
        for username, first, last, role, escalations in STAFF:
            users[username] = staff_account_set_up(
                clinic=self.clinic,
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@example.org",
                role=role,
                receives_escalations=escalations,
                password_hash=demo_password,
            )
        return users

    def _products(self) -> dict[Decimal, list[DrugProduct]]:
        products: dict[Decimal, list[DrugProduct]] = {}
        for product in DrugProduct.objects.filter(
            is_active=True, is_custom_dilution=False, screening_only=False
        ).order_by("pk"):
            products.setdefault(product.concentration_mcg_per_ml, []).append(product)
        for strength in (Decimal(500), Decimal(1000), Decimal(2000)):
            if strength not in products:
                raise ImproperlyConfigured(f"No active {strength} mcg/mL product (run migrate).")
        return products

    # ----------------------------------------------------------------- one patient

    def _patient(self, index: int, scenario: str, given: str, family: str) -> None:
        rng = self.rng
        child = scenario.startswith("low") and rng.random() < 0.12
        origin = (
            SpasticityOrigin.CEREBRAL if child or rng.random() < 0.4 else SpasticityOrigin.SPINAL
        )
        age_years = rng.randint(9, 16) if child else rng.randint(19, 79)
        dob = self.today - dt.timedelta(days=age_years * 365 + rng.randint(10, 350))

        flags = self._risk_flags(scenario, origin=origin, child=child)
        channel = rng.choices([Channel.SMS, Channel.EMAIL, Channel.NONE], [6, 3, 1])[0]
        phone = self._phone(index)
        email = f"{given}.{family}".lower().replace("-", "") + "@example.org"
        patient = patient_create(
            clinic=self.clinic,
            mrn=f"DEMO-{index:04d}",
            given_name=given,
            family_name=family,
            date_of_birth=dob,
            spasticity_origin=origin,
            phone=phone,
            email=email if channel == Channel.EMAIL or rng.random() < 0.5 else "",
            preferred_channel=channel,
            consent_sms=channel == Channel.SMS,
            consent_email=channel == Channel.EMAIL,
            notes="Invented demo patient.",
            **flags,
        )
        if (
            flags.get("caregiver_managed")
            or flags.get("lives_in_care_facility")
            or (rng.random() < 0.15)
        ):
            self._caregiver(patient, index, child=child)

        profile = self._profile(index, scenario, origin=origin, child=child, flags=flags)
        pump = self._pump(patient, profile)
        self._history(patient, pump, profile)
        self._final_state(patient, pump, profile)
        self.pumps.append((pump, scenario))
        logger.debug("Demo patient id %s (pump id %s): %s", patient.pk, pump.pk, scenario)

    def _risk_flags(self, scenario: str, *, origin: str, child: bool) -> dict[str, bool]:
        rng = self.rng
        flags: dict[str, bool] = {}
        if child:
            flags["caregiver_managed"] = True
        # Label risk factors (they widen the margin to 7 days).
        if scenario == "high_risk_factor_unbooked":
            flags["sci_t6_or_above"] = True
        elif scenario not in ("mod_unbooked_approaching", "mod_booked_late"):
            if origin == SpasticityOrigin.SPINAL and rng.random() < 0.25:
                flags["sci_t6_or_above"] = True
            if origin == SpasticityOrigin.CEREBRAL and rng.random() < 0.15:
                flags["communication_difficulty"] = True
            if rng.random() < 0.06:
                flags["prior_withdrawal"] = True
        # Other factors: two or more make MODERATE, so the LOW scenarios get at most one.
        others = [
            "cognitive_impairment",
            "transport_barrier",
            "hearing_impairment",
            "lives_in_care_facility",
            "prior_prealarm_symptoms",
        ]
        if scenario == "mod_other_factors":
            for name in rng.sample(others, 2):
                flags[name] = True
        elif (
            not child
            and scenario not in ("mod_unbooked_approaching", "mod_booked_late")
            and rng.random() < 0.2
        ):
            flags[rng.choice(others)] = True
        if rng.random() < 0.15:
            flags["oral_baclofen_bridge"] = True
        return flags

    def _phone(self, index: int) -> str:
        return f"+1{AREA_CODES[index % len(AREA_CODES)]}55501{index % 100:02d}"

    def _caregiver(self, patient: Patient, index: int, *, child: bool) -> None:
        rng = self.rng
        relationship = (
            rng.choice(["mother", "father"])
            if child
            else rng.choice(["spouse", "daughter", "son", "care home nurse", "partner"])
        )
        receives = rng.random() < 0.85
        caregiver_add(
            patient=patient,
            name=f"{CAREGIVER_NAMES[index % len(CAREGIVER_NAMES)]} {patient.family_name}",
            relationship=relationship,
            phone=f"+1{AREA_CODES[(index + 3) % len(AREA_CODES)]}55501{(index + 50) % 100:02d}",
            email=f"caregiver{index:04d}@example.org",
            preferred_channel=Channel.SMS,
            consent_sms=True,
            consent_email=True,
            receives_reminders=receives,
        )

    def _profile(self, index: int, scenario: str, *, origin: str, child: bool, flags) -> Profile:
        rng = self.rng
        alarm = Decimal("4.0") if flags.get("prior_prealarm_symptoms") else Decimal("2.0")
        if scenario == "mod_stability":
            # Low dose in a 40 mL pump at 2000 mcg/mL: the drug's 180 days come first.
            model = self.models[rng.choice(["8637-40", "16827"])]
            concentration = Decimal(2000)
            dose = Decimal(rng.randrange(120, 200, 10))
        elif scenario == "mod_replacement":
            # A long interval, so the planned replacement comes before the refill-by date.
            model = self.models["8637-40"]
            concentration = Decimal(2000)
            dose = Decimal(rng.randrange(420, 620, 10))
        else:
            if child or scenario in ("mod_replacement", "high_eri"):
                numbers: tuple[str, ...] = SYNCHROMED
                weights = [1, 1]
            else:
                numbers = SYNCHROMED + PROMETRA
                weights = [4, 4, 1, 1]
            model = self.models[rng.choices(numbers, weights)[0]]
            if child:
                dose = Decimal(rng.randrange(100, 460, 10))
            elif origin == SpasticityOrigin.CEREBRAL:
                dose = Decimal(rng.randrange(100, 710, 10))
            else:
                dose = Decimal(rng.randrange(200, 810, 10))
            choices = [
                c for c in (500, 1000, 2000) if self._interval_ok(model, Decimal(c), dose, alarm)
            ]
            if not choices:
                dose = Decimal(300)
                choices = [
                    c for c in (500, 1000) if self._interval_ok(model, Decimal(c), dose, alarm)
                ]
            concentration = Decimal(rng.choice(choices))
        start_concentration = concentration
        if scenario.startswith("low") and concentration > 500 and rng.random() < 0.3:
            lower = Decimal(500) if concentration == 1000 else Decimal(1000)
            if self._interval_ok(model, lower, dose, alarm, low=28):
                start_concentration = lower
        bolus, per_day = Decimal(0), 0
        if dose >= 200 and rng.random() < 0.1:
            bolus, per_day = Decimal(25), 2
        history_days = rng.randint(380, 1090)
        implanted_days_ago = None
        if scenario == "mod_replacement":
            # SynchroMed II shuts down at 7 years (2557 days); replacement is planned.
            implanted_days_ago = 2557 - rng.randint(80, 110)
        elif scenario == "high_eri":
            implanted_days_ago = 2557 - rng.randint(140, 170)
        return Profile(
            index=index,
            scenario=scenario,
            model=model,
            concentration=concentration,
            start_concentration=start_concentration,
            dose_mcg=dose,
            bolus_mcg=bolus,
            boluses_per_day=per_day,
            alarm_volume_ml=alarm,
            history_days=history_days,
            elapsed_u=rng.random(),
            implanted_days_ago=implanted_days_ago,
        )

    def _pump(self, patient: Patient, profile: Profile) -> Pump:
        rng = self.rng
        start = self.today - dt.timedelta(days=profile.history_days)
        if profile.implanted_days_ago is not None:
            implanted = self.today - dt.timedelta(days=profile.implanted_days_ago)
        elif rng.random() < 0.3:
            implanted = start  # implanted and first filled at the start of the history
        else:
            earliest = max(
                self.today - dt.timedelta(days=2200),  # well inside the 7-year life
                patient.date_of_birth + dt.timedelta(days=6 * 365),
            )
            span = (start - earliest).days
            implanted = start - dt.timedelta(days=rng.randint(0, max(span, 0)))
        serial_number = f"DEMO{profile.index:04d}{rng.randint(100, 999)}"
        # Entered at 07:00 on the history's first day, before its first program and fill
        # (clinic slots start at 08:00), so the pump's audit trail starts where its
        # back-dated history does.
        with history_dated(self._at(start, 7)):
            return pump_implant(
                patient=patient,
                model=profile.model,
                serial_number=serial_number,
                implanted_on=implanted,
                alarm_volume_ml=profile.alarm_volume_ml,
            )

    # ----------------------------------------------------------------- today

    def _book(self, pump: Pump, day: dt.date, **kwargs) -> Appointment:
        return self._with_override(
            refill_services.appointment_book,
            pump=pump,
            scheduled_start=self._clinic_slot(day),
            **kwargs,
        )

    def _book_in_time(self, pump: Pump, patient: Patient) -> None:
        """Book the next refill on or before refill-by, with the risk-adjusted margin."""
        stored = PumpForecast.objects.get(pump=pump)
        alarm_day = stored.conservative_alarm_at.date()
        any_factor = bool(patient.label_risk_factors or patient.other_risk_factors)
        # A day of slack: forecast dates are UTC calendar days, bookings are local.
        latest = min(stored.refill_by, alarm_day - dt.timedelta(days=7 if any_factor else 3))
        latest -= dt.timedelta(days=1)
        earliest = max(self.today + dt.timedelta(days=1), latest - dt.timedelta(days=8))
        days = [
            earliest + dt.timedelta(days=n)
            for n in range((latest - earliest).days + 1)
            if (earliest + dt.timedelta(days=n)).weekday() < 5
        ] or [max(earliest, latest)]
        self._book(pump, self.rng.choice(days))

    def _final_state(self, patient: Patient, pump: Pump, profile: Profile) -> None:
        rng = self.rng
        s = profile.scenario
        if s in ("low_booked", "mod_other_factors", "high_discrepancy", "crit_symptoms"):
            self._book_in_time(pump, patient)
        elif s == "mod_stability":
            if rng.random() < 0.5:
                self._book_in_time(pump, patient)
        elif s == "high_eri":
            pump = pump_update(
                pump=pump, eri_on=self.today - dt.timedelta(days=rng.randint(15, 30))
            )
            self._book_in_time(pump, patient)
        elif s == "mod_replacement":
            shutdown = pump.shutdown_on
            replacement = shutdown - dt.timedelta(days=rng.randint(35, 45))
            while replacement.weekday() >= 5:
                replacement -= dt.timedelta(days=1)
            pump = pump_update(pump=pump, planned_replacement_on=replacement)
            self._book(pump, replacement, kind=AppointmentKind.REPLACEMENT, duration_minutes=120)
        elif s == "mod_booked_late":
            stored = PumpForecast.objects.get(pump=pump)
            # After refill-by, before the conservative alarm: a physician must override.
            self._book(pump, stored.refill_by + dt.timedelta(days=1))
        elif s in ("high_missed", "crit_overdue"):
            last = pump.refills.order_by("-performed_at").first()
            last_day = timezone.localtime(last.performed_at, self.tz).date()
            day = self.today - dt.timedelta(days=rng.randint(1, 3))
            if day <= last_day:
                day = last_day + dt.timedelta(days=1)
            start = self._at(day, rng.randint(8, 14))
            if start >= self.now:
                start = self.now - dt.timedelta(hours=3)
            # Booked before today and not attended: entered as booked, then marked missed.
            appointment = refill_services.appointment_record_past(
                pump=pump, by=self.scheduler, scheduled_start=start
            )
            refill_services.appointment_mark_missed(appointment=appointment, now=self.now)
        elif s == "crit_alarm_report":
            refill_services.pump_report_record(
                pump=pump,
                by=self.nurse,
                kind=ReportKind.CRITICAL_ALARM,
                reported_at=self.now - dt.timedelta(hours=2),
                details="Caregiver heard the two-tone alarm this morning. Pump interrogation "
                "and same-day review arranged.",
            )
        if s == "crit_symptoms":
            refill_services.pump_report_record(
                pump=pump,
                by=self.nurse,
                kind=ReportKind.WITHDRAWAL_SYMPTOMS,
                reported_at=self.now - dt.timedelta(hours=5),
                details="Patient called: itching and rising tone since yesterday evening.",
            )

    # ----------------------------------------------------------------- summary

    def result(self) -> DemoResult:
        clinic = self.clinic
        pump_ids = [pump.pk for pump, _ in self.pumps]
        stored = dict(
            PumpForecast.objects.filter(pump_id__in=pump_ids).values_list("pump_id", "risk_tier")
        )
        tiers = Counter(Tier(stored[pk]).name for pk in pump_ids)
        mismatches = [
            (pump.patient_id, INTENDED_TIER[scenario].name, Tier(stored[pump.pk]).name)
            for pump, scenario in self.pumps
            if Tier(stored[pump.pk]) != INTENDED_TIER[scenario]
        ]
        appointments = Counter(
            Appointment.objects.filter(patient__clinic=clinic).values_list("status", flat=True)
        )
        refills = Refill.objects.filter(pump__patient__clinic=clinic)
        return DemoResult(
            loaded=True,
            message="Demo data loaded.",
            clinic_id=clinic.pk,
            patients=Patient.objects.filter(clinic=clinic).count(),
            pumps=len(pump_ids),
            refills=refills.count(),
            appointments=dict(appointments),
            discrepancies_flagged=refills.filter(discrepancy_flagged=True).count(),
            overrides=self.overrides,
            tiers=dict(tiers),
            tier_mismatches=mismatches,
        )
