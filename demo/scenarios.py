"""What the demo clinic holds: its scenarios, invented names, staff and pump mix.

Everything here is fiction: invented names, MRNs DEMO-0001..., phone numbers in
the 555-01xx range reserved for fiction, addresses @example.org.
"""

from __future__ import annotations

from decimal import Decimal

from accounts.models import Role
from refills.risk import Tier

DEMO_CLINIC_NAME = "Riverside ITB Clinic (demo)"
DEMO_TIMEZONE = "America/New_York"
DEMO_SEED = 20240917
DEMO_USERNAME = "demo"
# Local demo only: load_demo refuses to run unless settings.DEMO_LOGIN_ENABLED is True.
DEMO_PASSWORD = "demo"  # noqa: S105
# A nurse: the role that records refills, and one that signs in without two-factor.
# Every demo staff account (STAFF below) shares the password, so each role can be
# tried; those whose role needs two-factor (PUMPTRACK_2FA_REQUIRED_ROLES) are asked to
# set it up on first use.
DEMO_ROLE = Role.NURSE
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
