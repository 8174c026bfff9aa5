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
import math
import random
from collections import Counter
from collections.abc import Callable
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
from patients.models import Channel, Clinic, Patient, Pump, PumpModel, SpasticityOrigin
from patients.services import (
    caregiver_add,
    clinic_create,
    patient_create,
    pump_implant,
    pump_update,
)
from refills import services as refill_services
from refills.forecast import expected_residual_ml
from refills.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    DiscrepancyAction,
    DrugProduct,
    NeedleCheck,
    PumpForecast,
    Refill,
    ReportKind,
)
from refills.risk import Tier
from refills.selectors import current_fill
from refills.services import ClinicalValidationError, ProgramInput, RefillInput
from reminders.hooks import reviews_paused

logger = logging.getLogger(__name__)

DEMO_CLINIC_NAME = "Riverside ITB Clinic (demo)"
DEMO_TIMEZONE = "America/New_York"
DEMO_SEED = 20240917
DEMO_USERNAME = "demo"
# Local demo only: load_demo refuses to run unless settings.DEMO_LOGIN_ENABLED is True.
DEMO_PASSWORD = "demo"  # noqa: S105
# A nurse: the role that records refills, and one that signs in without two-factor.
# The physician and manager demo logins share the password and are asked to set up
# two-factor sign-in on first use, as their roles require.
DEMO_ROLE = Role.NURSE
DEMO_TWO_FACTOR_LOGINS = ("demo.physician", "demo.manager")
OVERRIDE_REASON = "Demo data"

# (scenario, how many patients). The tier is what the scenario is built to show today.
SCENARIOS: tuple[tuple[str, int, Tier], ...] = (
    ("crit_alarm_report", 1, Tier.CRITICAL),
    ("crit_symptoms", 1, Tier.CRITICAL),
    ("crit_overdue", 1, Tier.CRITICAL),
    ("high_unbooked_soon", 2, Tier.HIGH),
    ("high_missed", 2, Tier.HIGH),
    ("high_discrepancy", 1, Tier.HIGH),
    ("high_eri", 1, Tier.HIGH),
    ("high_risk_factor_unbooked", 1, Tier.HIGH),
    ("mod_unbooked_approaching", 2, Tier.MODERATE),
    ("mod_booked_late", 2, Tier.MODERATE),
    ("mod_other_factors", 2, Tier.MODERATE),
    ("mod_stability", 2, Tier.MODERATE),
    ("mod_replacement", 1, Tier.MODERATE),
    ("low_booked", 19, Tier.LOW),
    ("low_unbooked", 12, Tier.LOW),
)
INTENDED_TIER = {name: tier for name, _, tier in SCENARIOS}
PATIENT_COUNT = sum(count for _, count, _ in SCENARIOS)

# Obviously invented: no real person is meant.
GIVEN_NAMES = (
    "Ada", "Basil", "Clementine", "Dorian", "Elowen", "Fitz", "Greta", "Horatio", "Ines",
    "Jasper", "Kit", "Lavinia", "Mungo", "Nell", "Orrin", "Posy", "Quentin", "Rosamund",
    "Silas", "Tamsin", "Ulric", "Verity", "Wendell", "Xanthe", "Yorick", "Zinnia", "Alaric",
    "Bryony", "Cosmo", "Delphine", "Eamon", "Florian", "Gwendolyn", "Hollis", "Isolde",
    "Jago", "Kestrel", "Linus", "Marigold", "Nico", "Ottoline", "Peregrine", "Romilly",
    "Sorrel", "Tobias", "Una", "Valentine", "Wren", "Xavier", "Yara",
)  # fmt: skip
FAMILY_NAMES = (
    "Quillfeather", "Marblemoss", "Puddleby", "Copperkettle", "Lanternfield", "Brambleworth",
    "Thimblewick", "Fennimoss", "Gooseberry-Pye", "Hollowbrook", "Inkwhistle", "Jellicoe-Fable",
    "Kettleburn", "Larkspurrow", "Mossbottom", "Nettlecombe", "Oddsock", "Pebbleton",
    "Quagmire-Jones", "Rumbletump", "Snickersby", "Tumbledown", "Umbrellaby", "Velvetpaw",
    "Wobblesworth", "Yarrowdale", "Zephyrine", "Applecrumb", "Buttonwillow", "Cloudberry",
    "Dandelyon", "Elderflick", "Figglesworth", "Gingersnap", "Hazelbramble", "Ivytwist",
    "Juniperwick", "Kipperwell", "Lollygag", "Muddlecombe", "Noodlewood", "Owlsbury",
    "Pumpernickel", "Quibbleton", "Rhubarbary", "Sprocketts", "Treacleford", "Uppercrust",
    "Waffleton", "Zigzagg",
)  # fmt: skip
CAREGIVER_NAMES = (
    "Morwenna", "Bartholomew", "Philippa", "Crispin", "Hyacinth", "Leopold", "Perpetua",
    "Ambrose", "Clover", "Fergus",
)  # fmt: skip
# Area codes for the fictional 555-01xx numbers (phonenumbers accepts these as valid).
AREA_CODES = ("202", "212", "312", "617", "415", "305", "404", "206", "512", "303")

STAFF = (
    # username, first, last, role, receives escalations
    (DEMO_USERNAME, "Demo", "Login", DEMO_ROLE, True),
    ("demo.nurse", "Nova", "Nightingale-Demo", Role.NURSE, False),
    ("demo.nurse2", "Ned", "Syringe-Demo", Role.NURSE, False),
    ("demo.physician", "Phyllis", "Baclofenski-Demo", Role.PHYSICIAN, True),
    ("demo.scheduler", "Sam", "Calendar-Demo", Role.SCHEDULER, False),
    ("demo.manager", "Marge", "Ledger-Demo", Role.MANAGER, True),
    ("demo.auditor", "Audra", "Checkwell-Demo", Role.AUDITOR, False),
)

# Pump models as loaded by migration patients/0002_pump_catalogue.
SYNCHROMED = ("8637-20", "8637-40")
PROMETRA = ("13827", "16827")
# Intervals (days from fill to refill-by) that look like a real clinic: not
# shorter than a month, and short of the 180-day stability cap unless wanted.
INTERVAL_DAYS = (35, 165)
ACCURACY = Decimal("0.15")


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
        lines.append(
            f"{' and '.join(DEMO_TWO_FACTOR_LOGINS)} (password {DEMO_PASSWORD}) can override "
            "and see reports; they are asked to set up two-factor sign-in first."
        )
        return lines


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


@dataclass
class _Course:
    """What a pump's history carries from one refill to the next."""

    concentration: Decimal
    dose: Decimal
    products: dict[Decimal, DrugProduct]


@dataclass
class _Profile:
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


class _Builder:
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
        # Hashed once (a real hash, about a second of work) for the three demo logins;
        # make_password skips the password validators on purpose: local demo only.
        demo_password = make_password(DEMO_PASSWORD)
        users = {}
        for username, first, last, role, escalations in STAFF:
            signs_in = username == DEMO_USERNAME or username in DEMO_TWO_FACTOR_LOGINS
            # The others cannot sign in; none has staff status (the admin is operators').
            users[username] = staff_account_set_up(
                clinic=self.clinic,
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@example.org",
                role=role,
                receives_escalations=escalations,
                password_hash=demo_password if signs_in else None,
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

    def _profile(self, index: int, scenario: str, *, origin: str, child: bool, flags) -> _Profile:
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
        return _Profile(
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

    @staticmethod
    def _interval_ok(model, concentration, dose, alarm, *, low=INTERVAL_DAYS[0]) -> bool:
        usable = model.reservoir_capacity_ml - alarm
        conservative_days = usable * concentration / dose / (1 + ACCURACY)
        return low <= conservative_days - 7 and conservative_days - 3 <= INTERVAL_DAYS[1]

    def _pump(self, patient: Patient, profile: _Profile) -> Pump:
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
        return pump_implant(
            patient=patient,
            model=profile.model,
            serial_number=f"DEMO{profile.index:04d}{rng.randint(100, 999)}",
            implanted_on=implanted,
            alarm_volume_ml=profile.alarm_volume_ml,
        )

    # ----------------------------------------------------------------- history

    def _at(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=self.tz)

    def _clinic_slot(self, day: dt.date) -> dt.datetime:
        return self._at(day, self.rng.randint(8, 15), self.rng.choice([0, 30]))

    def _elapsed_days(self, profile: _Profile, *, to_alarm: float, to_refill_by: int) -> float:
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

    def _history(self, patient: Patient, pump: Pump, profile: _Profile) -> None:
        """Refills from the start of the history to the last one the scenario wants.

        Each refill comes before the stored forecast's refill-by date, and the interval
        is spread evenly so the last refill lands where the scenario puts it.
        """
        rng = self.rng
        course = _Course(
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

    def _first_fill(self, pump: Pump, profile: _Profile, course: _Course) -> dt.datetime:
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

    def _last_refill(self, pump: Pump, profile: _Profile, course: _Course, day: dt.date) -> None:
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
        profile: _Profile,
        course: _Course,
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
            # would count as the missed visit's.
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
        self, pump: Pump, patient: Patient, profile: _Profile, course: _Course, *, gap, max_step
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

    def _final_state(self, patient: Patient, pump: Pump, profile: _Profile) -> None:
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
