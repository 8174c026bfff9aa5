"""Message texts: defaults, the placeholders each kind may use, and rendering.

Patient messages carry the least health information that still works: a first
name, the clinic's name, a date and time in the recipient's zone and the
clinic's phone number. Never the drug, a dose, a diagnosis or an MRN, and never a
carrier opt-out word ("reply STOP"): templates that try are refused, also when the
word is disguised (separators, digits for letters, look-alike letters from another
alphabet). Each patient kind requires the placeholders the patient needs to act,
and the call-today text must say "today" and name the emergency route.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Q

from patients.models import Channel
from pumptrack.dates import date_text

logger = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

_PATIENT = {"first_name", "clinic_name", "clinic_phone", "whose", "whom"}
_APPOINTMENT = _PATIENT | {"when", "date", "time", "days_ahead"}
ALLOWED_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "booking-confirmation": frozenset(_APPOINTMENT),
    "appointment-reminder": frozenset(_APPOINTMENT),
    "missed-appointment": frozenset(_APPOINTMENT),
    "unbooked-nudge": frozenset(_PATIENT | {"refill_by"}),
    # No date on purpose: the refill-by date has come or passed, so the only ask is "call
    # today", with the after-hours number and the emergency route as the safety net.
    "overdue-call": frozenset(_PATIENT | {"clinic_after_hours_phone"}),
    "staff-escalation": frozenset(
        {
            "first_name",
            "clinic_name",
            "alert_id",
            "alert_kind",
            "severity",
            "alert_url",
            "escalation_number",
            "raised_at",
        }
    ),
    "sweep-resumed": frozenset({"first_name", "last_sweep_at", "resumed_at", "stale_minutes"}),
}

# Words a patient message must not contain (health details, carrier opt-out words).
FORBIDDEN_IN_PATIENT_MESSAGES = (
    "baclofen",
    "lioresal",
    "gablofen",
    "ozobax",
    "dose",
    "dosage",
    "mcg",
    "mrn",
    "diagnos",
    "spastic",
    "withdrawal",
    "cancel",
)
PATIENT_KINDS = frozenset(
    {
        "booking-confirmation",
        "appointment-reminder",
        "missed-appointment",
        "unbooked-nudge",
        "overdue-call",
    }
)


@dataclass(frozen=True)
class Text:
    subject: str
    body: str


# Defaults: the data migration copies them into MessageTemplate rows; they are also the
# fallback when a manager deleted a row.
DEFAULTS: dict[tuple[str, str], Text] = {
    ("booking-confirmation", Channel.SMS): Text(
        "",
        "Hi {first_name}, {clinic_name} has booked {whose} appointment for {when}. "
        "To change it, call {clinic_phone}.",
    ),
    ("booking-confirmation", Channel.EMAIL): Text(
        "Your appointment at {clinic_name}",
        "Hello {first_name},\n\n{clinic_name} has booked {whose} appointment for {when}.\n\n"
        "If you need to change it, please call us at {clinic_phone}.\n\n{clinic_name}\n",
    ),
    ("appointment-reminder", Channel.SMS): Text(
        "",
        "Hi {first_name}, a reminder from {clinic_name}: {whose} appointment is {days_ahead}, "
        "{when}. If you can't come, please call {clinic_phone} to rebook.",
    ),
    ("appointment-reminder", Channel.EMAIL): Text(
        "Reminder: appointment {days_ahead} at {clinic_name}",
        "Hello {first_name},\n\nThis is a reminder that {whose} appointment at {clinic_name} "
        "is {days_ahead}: {when}.\n\nIf you can't come, please call us at {clinic_phone} "
        "to choose another date as soon as possible.\n\n{clinic_name}\n",
    ),
    ("missed-appointment", Channel.SMS): Text(
        "",
        "Hi {first_name}, we missed {whom} at {clinic_name} on {when}. "
        "Please call {clinic_phone} as soon as you can to rebook.",
    ),
    ("missed-appointment", Channel.EMAIL): Text(
        "We missed {whom} at {clinic_name}",
        "Hello {first_name},\n\nWe missed {whom} at {clinic_name} on {when}.\n\n"
        "Please call us at {clinic_phone} as soon as you can to choose a new date. "
        "It should not wait.\n\n{clinic_name}\n",
    ),
    ("unbooked-nudge", Channel.SMS): Text(
        "",
        "Hi {first_name}, it is time to book {whose} next appointment at {clinic_name}. "
        "Please call {clinic_phone} to book a date before {refill_by}.",
    ),
    ("unbooked-nudge", Channel.EMAIL): Text(
        "Time to book {whose} next appointment at {clinic_name}",
        "Hello {first_name},\n\nIt is time to book {whose} next appointment at {clinic_name}. "
        "Please call us at {clinic_phone} to book a date before {refill_by}.\n\n{clinic_name}\n",
    ),
    ("overdue-call", Channel.SMS): Text(
        "",
        "Hi {first_name}, {clinic_name} needs to see {whom} today: {whose} next appointment "
        "is due now and is not booked yet. Please call {clinic_phone} today (after hours: "
        "{clinic_after_hours_phone}). Do not wait if the alarm sounds or there are signs of "
        "feeling unwell: go to the nearest emergency department.",
    ),
    ("overdue-call", Channel.EMAIL): Text(
        "Please call {clinic_name} today",
        "Hello {first_name},\n\n{clinic_name} needs to see {whom} today: {whose} next "
        "appointment is due now and is not booked yet.\n\nPlease call us at {clinic_phone} "
        "today; after hours, call {clinic_after_hours_phone}. It should not wait.\n\n"
        "Do not wait for a call back if the alarm sounds or there are signs of feeling "
        "unwell: go to the nearest emergency department.\n\n{clinic_name}\n",
    ),
    ("staff-escalation", Channel.SMS): Text(
        "",
        "pumptrack: {severity} alert #{alert_id} at {clinic_name} ({alert_kind}) is not "
        "acknowledged. {alert_url}",
    ),
    ("staff-escalation", Channel.EMAIL): Text(
        "[pumptrack] {severity} alert #{alert_id} is not acknowledged",
        "Hello {first_name},\n\nA {severity} alert at {clinic_name} has not been acknowledged "
        "(raised {raised_at}; notice {escalation_number}).\n\nKind: {alert_kind}\n\n"
        "Open it here: {alert_url}\n\nYou receive this because you are an escalation "
        "contact for {clinic_name}.\n",
    ),
    ("sweep-resumed", Channel.EMAIL): Text(
        "[pumptrack] Reminders are running again",
        "Hello {first_name},\n\nThe reminder sweep had not finished since {last_sweep_at} "
        "({stale_minutes} minutes). It ran again at {resumed_at}; reminders and alerts that "
        "became due meanwhile are being sent now.\n\nPlease check the alert queue.\n",
    ),
}


def format_date(day: dt.date) -> str:
    # Django's dateformat, not strftime: texts never depend on the server's locale.
    return date_text(day)


def format_time(moment: dt.datetime) -> str:
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{hour}:{moment.minute:02d} {half} {moment.tzname()}"


def format_when(moment: dt.datetime, zone: ZoneInfo) -> str:
    """'Tue 14 Oct 2025 at 9:30 AM EDT', in the recipient's zone."""
    local = moment.astimezone(zone)
    return f"{format_date(local.date())} at {format_time(local)}"


def days_ahead_text(moment: dt.datetime, now: dt.datetime, zone: ZoneInfo) -> str:
    days = (moment.astimezone(zone).date() - now.astimezone(zone).date()).days
    if days <= 0:
        return "today"
    if days == 1:
        return "tomorrow"
    return f"in {days} days"


def _comparable(text: str) -> str:
    """The text as a reader sees it: compatibility forms folded (full-width letters, ligatures)
    and invisible format characters (zero-width spaces and joiners, soft hyphens) removed, so
    "bac\u200blofen" cannot slip a forbidden word past the check."""
    return _visible(text).casefold()


def _visible(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")


# Carrier opt-out keywords: a patient who replies with one of these stops every reminder.
# Refused as whole words (any case), also when spelt with separators or digits.
OPT_OUT_WORDS = (
    "stop",
    "stopall",
    "unsubscribe",
    "end",
    "quit",
    "cancel",
    "optout",
    "revoke",
)

# Digits and symbols that stand in for letters inside a word ("d0se", "b@clofen").
_STAND_INS = {"o": "0", "l": "1", "i": "1", "e": "3", "a": "4@", "s": "5$", "t": "7"}
# Cyrillic and Greek letters that look like Latin ones (lower case; text is casefolded).
_LOOK_ALIKES = str.maketrans(
    {
        "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "і": "i",
        "ї": "i", "ј": "j", "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p",
        "ԛ": "q", "г": "r", "ѕ": "s", "т": "t", "у": "y", "ԝ": "w", "х": "x", "ɡ": "g",
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u", "ν": "v",
        "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j",
    }
)  # fmt: skip
# Inside a word, everything but letters, digits and the symbol stand-ins is a separator
# ("b-a-c", "b.a.c", "b_a", "b*a"): removed, so the letters join up again.
_SEPARATORS = re.compile(r"[^\w@$]|_")
_LETTERS = re.compile(r"[^\W\d_]+")
_WORDS = re.compile(r"[^\W_]+")


def _disguised(word: str) -> re.Pattern:
    """A pattern for `word` with each letter also matched by its digit or symbol stand-ins."""
    return re.compile("".join(f"[{re.escape(ch + _STAND_INS.get(ch, ''))}]" for ch in word))


_FORBIDDEN_PATTERNS = {word: _disguised(word) for word in FORBIDDEN_IN_PATIENT_MESSAGES}
_OPT_OUT_PATTERNS = {word: _disguised(word) for word in OPT_OUT_WORDS}


def _script(ch: str) -> str:
    return unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]


def mixed_script_words(text: str) -> list[str]:
    """Words that mix Latin letters with letters of another script (a Cyrillic "а" in
    "bаclofen" looks Latin to a reader but not to a plain comparison)."""
    found = []
    for word in _LETTERS.findall(_visible(text)):
        scripts = {_script(ch) for ch in word}
        if "LATIN" in scripts and len(scripts) > 1 and word not in found:
            found.append(word)
    return found


def _forms(text: str) -> list[tuple[str, str]]:
    """(as written, comparable form) for every word of the text, plus the words with their
    in-word separators removed, and runs of single letters ("s t o p") joined up.

    Words separated by white space are never glued together (except single letters), so
    "do send" does not read as "dose"."""
    text = PLACEHOLDER.sub(" ", _visible(text))
    forms: list[tuple[str, str]] = []
    singles: list[str] = []

    def flush():
        if len(singles) >= 3:
            forms.append((" ".join(singles), "".join(singles)))
        singles.clear()

    for token in text.split():
        plain = token.casefold().translate(_LOOK_ALIKES)
        joined = _SEPARATORS.sub("", plain)
        shown = token.strip(".,;:!?()[]\"'“”‘’")
        forms.append((shown, joined))
        for word in _WORDS.findall(plain):
            forms.append((word, word))
        if len(joined) == 1:
            singles.append(joined)
        else:
            flush()
    flush()
    return forms


# Kinds with a date or a number the patient must have: without it the message could say
# "see you soon" or "call us sometime" and be calmer than the truth.
REQUIRED_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "booking-confirmation": ("when",),
    "appointment-reminder": ("when",),
    "missed-appointment": ("clinic_phone",),
    "unbooked-nudge": ("refill_by", "clinic_phone"),
    "overdue-call": ("clinic_phone", "clinic_after_hours_phone"),
}
# The refill is due now: the text must say to call today and name the emergency route.
REQUIRED_WORDS: dict[str, tuple[str, ...]] = {
    "overdue-call": ("today", "emergency"),
}
# Words that make an urgent message sound optional.
CALMING_PHRASES: dict[str, tuple[str, ...]] = {
    "overdue-call": (
        "not urgent",
        "nothing urgent",
        "no rush",
        "no hurry",
        "whenever",
        "when convenient",
        "when it is convenient",
        "at your convenience",
        "at your leisure",
        "next week",
        "next month",
        "can wait",
        "no need",
    ),
}
PATIENT_MESSAGE_MAX_SMS = 480


def _has_word(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def template_problems(*, kind: str, channel: str, subject: str, body: str) -> list[str]:
    allowed = ALLOWED_PLACEHOLDERS.get(kind, frozenset())
    problems = []
    for name in sorted(set(PLACEHOLDER.findall(subject + "\n" + body)) - allowed):
        problems.append(
            f"{{{name}}} is not available here. Use: "
            + ", ".join(f"{{{n}}}" for n in sorted(allowed))
        )
    if kind in PATIENT_KINDS:
        problems += _word_problems(subject + "\n" + body)
        problems += _urgency_problems(kind, body)
    if channel == Channel.SMS and len(body) > PATIENT_MESSAGE_MAX_SMS:
        problems.append(
            f"A text message template must be {PATIENT_MESSAGE_MAX_SMS} characters or fewer "
            f"(it has {len(body):,})."
        )
    if not body.strip():
        problems.append("The message needs a text.")
    return problems


def _word_problems(text: str) -> list[str]:
    problems = []
    for word in mixed_script_words(text):
        problems.append(
            f"“{word}” mixes Latin letters with look-alike letters from another alphabet "
            "(Cyrillic or Greek). Type it again with ordinary letters."
        )
    lowered = _comparable(text).translate(_LOOK_ALIKES)
    forms = _forms(text)
    reported = set()
    for word, pattern in _OPT_OUT_PATTERNS.items():
        hits = [shown for shown, form in forms if pattern.fullmatch(form)]
        if hits:
            reported.add(word)
            problems.append(
                f"Patient messages must not contain “{word}” (found: “{hits[0]}”): it is a "
                "carrier opt-out word, and a patient who replies with it stops receiving "
                "every reminder."
            )
    for word, pattern in _FORBIDDEN_PATTERNS.items():
        if word in reported:
            continue
        hits = [shown for shown, form in forms if pattern.search(form)]
        if word in lowered or hits:
            found = f" (found: “{hits[0]}”)" if hits and hits[0].casefold() != word else ""
            problems.append(
                f"Patient messages must not contain “{word}”{found}: no drug, dose, diagnosis "
                "or MRN, and no carrier opt-out words."
            )
    return problems


def _urgency_problems(kind: str, body: str) -> list[str]:
    problems = []
    present = set(PLACEHOLDER.findall(body))
    missing = [f"{{{name}}}" for name in REQUIRED_PLACEHOLDERS.get(kind, ()) if name not in present]
    if missing:
        problems.append(
            "The message text must include " + ", ".join(missing) + ": the patient needs it "
            "to act on this message."
        )
    lowered = " ".join(_comparable(PLACEHOLDER.sub(" ", body)).split())
    words = [w for w in REQUIRED_WORDS.get(kind, ()) if not _has_word(lowered, w)]
    if words:
        problems.append(
            "This message must say "
            + " and ".join(f"“{w}”" for w in words)
            + ": the refill is due now, so the patient calls the clinic today and goes to "
            "the emergency department if the alarm sounds or they feel unwell."
        )
    calming = [p for p in CALMING_PHRASES.get(kind, ()) if _has_word(lowered, p)]
    if calming:
        problems.append(
            "This message is urgent and must not sound optional: remove "
            + ", ".join(f"“{p}”" for p in calming)
            + "."
        )
    return problems


def render(text: str, context: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: str(context.get(m.group(1), m.group(0))), text)


def template_for(*, clinic_id: int | None, kind: str, channel: str, cache: dict | None = None):
    """The clinic's template, else the default row, else the built-in text."""
    from reminders.models import MessageTemplate

    cache_key = (clinic_id, kind, channel)
    if cache is not None and cache_key in cache:
        return cache[cache_key]
    owners = (
        Q(clinic__isnull=True) | Q(clinic_id=clinic_id) if clinic_id else Q(clinic__isnull=True)
    )
    rows = {
        row.clinic_id: row
        for row in MessageTemplate.objects.filter(owners, kind=kind, channel=channel)
    }
    row = rows.get(clinic_id) or rows.get(None)
    if (
        row is not None
        and row.clinic_id is not None
        and template_problems(kind=kind, channel=channel, subject=row.subject, body=row.body)
    ):
        # A clinic's text saved before today's rules (a calm "call today", a missing
        # {when}, a disguised drug name) is not sent: the all-clinics text goes instead.
        logger.warning(
            "clinic %s template %s/%s breaks the template rules; default used",
            row.clinic_id,
            kind,
            channel,
        )
        row = rows.get(None)
    text = Text(row.subject, row.body) if row else DEFAULTS.get((kind, channel))
    if text is None:
        text = DEFAULTS[(kind, Channel.EMAIL)]
    if cache is not None:
        cache[cache_key] = text
    return text
