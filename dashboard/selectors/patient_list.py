"""The patient list: every patient of the user's clinics, pump or not, found by name,
MRN, date of birth or phone.

One query for the page's rows (status and reachability are annotations, the clinic a
join) and one for the count, whatever the number of patients.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Case, CharField, Count, Exists, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Replace, Upper

from accounts.access import scoped
from accounts.models import User
from patients.models import Caregiver, Patient, Pump, PumpStatus
from patients.phones import parse_phone
from patients.reachability import annotate_reachable
from pumptrack.dates import parse_day_text

STATUSES: tuple[tuple[str, str], ...] = (
    ("nopump", "No pump yet"),
    ("active", "Active pump"),
    ("explanted", "Explanted"),
    ("discharged", "Deceased or discharged"),
)
STATUS_LABELS = dict(STATUSES)
# Fewer digits than this are part of a name search or an MRN, not a phone number.
PHONE_MIN_DIGITS = 6
# Left out when an MRN is compared: "DEMO-0050", "demo0050" and "DEMO 0050" are one.
MRN_PUNCTUATION = ("-", " ", ".", "/", "_", "#")


@dataclass(frozen=True)
class PatientFilters:
    q: str = ""
    status: str = ""
    unreachable: bool = False


def _status_case() -> Case:
    """Discharged (no longer under the clinic's care) first, then the pumps."""
    pumps = Pump.objects.filter(patient=OuterRef("pk"))
    return Case(
        When(is_active=False, then=Value("discharged")),
        When(Exists(pumps.filter(status=PumpStatus.ACTIVE)), then=Value("active")),
        When(Exists(pumps), then=Value("explanted")),
        default=Value("nopump"),
        output_field=CharField(),
    )


def patient_list(user: User, filters: PatientFilters) -> QuerySet[Patient]:
    """The user's clinics' patients, by last name, ready to page."""
    qs = scoped(user, Patient.objects.all(), "clinic").select_related("clinic")
    qs = annotate_reachable(qs.annotate(status=_status_case()))
    qs = _annotate_mrn_compact(qs)
    qs = _search(qs, filters.q)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.unreachable:
        # Only patients who could be reminded at all: under the clinic's care.
        qs = qs.filter(reachable=False, is_active=True)
    return qs.order_by("family_name", "given_name", "pk")


def _search(qs: QuerySet[Patient], text: str) -> QuerySet[Patient]:
    """Every word must match; or the whole text is an MRN typed with spaces ("RV 0002")."""
    words = _words(text)
    if not words:
        return qs
    condition = Q()
    for word in words:
        condition &= _word_q(word)
    compact = _mrn_compact(text)
    if len(words) > 1 and compact:
        condition |= Q(mrn_compact__startswith=compact)
    return qs.filter(condition)


def _words(text: str) -> list[str]:
    """A date or a phone number typed with spaces is one term; names are words, and the
    comma of "Family, Given" (how every page writes a name) separates two of them."""
    text = text.strip()
    if not text:
        return []
    if _search_day(text) is not None or _phone_digits(text):
        return [text]
    return text.replace(",", " ").split()[:5]


def _search_day(text: str) -> dt.date | None:
    """A day as the pages write it ("1 Dec 1980", ISO), or all in numbers: 12/01/1980,
    12-01-1980, 12.01.1980, read in the clinics' order (PUMPTRACK_NUMERIC_DATE_ORDER,
    month first in en-US) unless only the other order is a real date."""
    day = parse_day_text(text)
    if day is not None:
        return day
    match = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", text.strip())
    if match is None:
        return None
    first, second, year = (int(part) for part in match.groups())
    orders = [(first, second), (second, first)]  # (month, day)
    if settings.PUMPTRACK_NUMERIC_DATE_ORDER.upper() == "DMY":
        orders.reverse()
    for month, day_of_month in orders:
        try:
            return dt.date(year, month, day_of_month)
        except ValueError:
            continue
    return None


def _mrn_compact(text: str) -> str:
    """The MRN's letters and digits only, upper case: "rv0002" finds RV-0002."""
    return re.sub(r"[^0-9A-Za-z]", "", text).upper()


def _annotate_mrn_compact(qs: QuerySet[Patient]) -> QuerySet[Patient]:
    """The stored MRN without the punctuation people leave out when they type one."""
    compact = Upper("mrn")
    for mark in MRN_PUNCTUATION:
        compact = Replace(compact, Value(mark), Value(""))
    return qs.annotate(mrn_compact=compact)


def _phone_digits(text: str) -> str:
    """The national digits of a typed phone number, or "" when it is not one."""
    if not re.fullmatch(r"[\d\s()+.\-/]+", text):
        return ""
    digits = re.sub(r"\D", "", text)
    if len(digits) < PHONE_MIN_DIGITS:
        return ""
    try:
        # "(617) 555-0142", "617.555.0142", "+1 617 555 0142" all give 6175550142.
        return str(parse_phone(text).national_number)
    except ValidationError:  # a part of a number is searched as typed
        return digits.lstrip("0")


def _word_q(word: str) -> Q:
    condition = (
        Q(mrn__istartswith=word) | Q(given_name__icontains=word) | Q(family_name__icontains=word)
    )
    compact = _mrn_compact(word)
    if compact:
        condition |= Q(mrn_compact__startswith=compact)
    day = _search_day(word)
    if day is not None:
        condition |= Q(date_of_birth=day)
    digits = _phone_digits(word)
    if digits:
        # Stored in E.164: the national digits are a contiguous part of it.
        caregiver = Caregiver.objects.filter(patient=OuterRef("pk"), phone__contains=digits)
        condition |= Q(phone__contains=digits) | Q(Exists(caregiver))
    return condition


def status_counts(user: User) -> dict[str, int]:
    """How many of the user's patients have each status (one query)."""
    counts = dict.fromkeys(STATUS_LABELS, 0)
    qs = scoped(user, Patient.objects.all(), "clinic").annotate(status=_status_case())
    for row in qs.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def unreachable_count(user: User) -> int:
    """Patients under care whom no reminder can reach (the board header's count)."""
    return patient_list(user, PatientFilters(unreachable=True)).count()


def untracked_matches(user: User, text: str) -> int:
    """Patients the board's search would miss: matching `text` but without an active pump
    (the board lists pumps), so its "Nobody matches" can point to the patient list."""
    return patient_list(user, PatientFilters(q=text)).exclude(status="active").count()
