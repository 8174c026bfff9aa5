"""The audit trail: every recorded change to clinical data, scoped to clinics.

django-simple-history writes a historical row for each create, update and delete of
the tracked models. This module reads them back, clinic by clinic, and shows what each
change did: who, when, which patient, which record, and each changed field by its label
with the old and the new value. Nothing here writes history: the application offers no
way to edit or delete it.

Cost follows the page, not the clinic's history: one UNION ALL over the history tables
(filtered and ordered in the database) finds the page's rows; then, per kind of record
on the page, one query reads those rows with the id of each one's previous version (a
correlated subquery) and one reads those previous versions; one query per kind of
related row names the foreign keys, one names the patients. Never a row outside the page
and its previous versions, so the number of queries is bounded by the number of tracked
models, whatever the length of the history.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.apps import apps
from django.core.paginator import Page, Paginator
from django.db.models import BigIntegerField, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.fields import CharField
from django.db.models.functions import Cast
from django.utils import timezone

from patients.models import validate_working_days, working_days_text
from pumptrack.dates import date_text
from pumptrack.history import changed_fields

# (model label, path from a historical row to its clinic, and to its patient)
TRACKED: tuple[tuple[str, str, str | None], ...] = (
    ("patients.Clinic", "id", None),
    ("patients.ClinicClosure", "clinic", None),
    ("patients.Patient", "clinic", "id"),
    ("patients.Caregiver", "patient__clinic", "patient"),
    ("patients.Pump", "patient__clinic", "patient"),
    ("refills.DrugProgram", "pump__patient__clinic", "pump__patient"),
    ("refills.Refill", "pump__patient__clinic", "pump__patient"),
    ("refills.Appointment", "patient__clinic", "patient"),
    ("refills.PumpReport", "pump__patient__clinic", "pump__patient"),
    ("refills.Override", "pump__patient__clinic", "pump__patient"),
    ("reminders.Alert", "clinic", "patient"),
    # Clinic administration: staff roles granted, changed and ended, 2FA resets, and the
    # clinic's own message texts (the all-clinics defaults belong to no clinic).
    ("accounts.Membership", "clinic", None),
    # Invitations: sent, withdrawn, accepted or declined (the answer shown without the
    # account that gave it: see _invitation_answer).
    ("accounts.StaffInvitation", "clinic", None),
    ("reminders.MessageTemplate", "clinic", None),
    # Device advisory lookups and their CSV exports: who searched for what, how many found.
    ("reports.AdvisoryLookup", "clinic", None),
)

CHANGE_TYPES = {"+": "created", "~": "changed", "-": "deleted"}
# Changes to these are bookkeeping, not clinical changes.
_IGNORED = {"updated_at"}
# Internal keys of one kind of record, never shown: an alert's occasion
# ("anchor:2026-10-07T09:35:00-04:00", "appointment:800") only tells the alert rules not
# to raise a resolved alert again for the same thing; the record text already says which
# alert it is, and the key means nothing to a reader.
_BOOKKEEPING = {"reminders.Alert": {"occasion"}}
# Never shown, old or new, in the page or the CSV: secrets, and the account that answered
# an invitation (a declined invitation must not reveal who has the address). The change
# itself is still listed, as "changed (not shown)".
_SENSITIVE_NAME = re.compile(r"password|secret|token|otp|private|api_key", re.IGNORECASE)
_SENSITIVE_FIELDS = {("accounts.StaffInvitation", "answered_by")}
HIDDEN_VALUE = "(not shown)"
EMPTY = "—"
SYSTEM_USER = "system"
INVITEE = "the invitee"
PAGE_SIZE = 50


@dataclass(frozen=True)
class FieldChange:
    label: str
    old: str
    new: str
    hidden: bool = False


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    model: str  # the kind of record, e.g. "Refill"
    object_id: int
    change: str  # created, changed, deleted (accepted, declined for invitations)
    user_id: int | None
    username: str  # the login name ("system", "the invitee" when there is none to show)
    fields: tuple[str, ...]  # the changed columns (attnames), in column order
    user_display: str = ""  # "Full Name (login)"
    kind: str = ""  # the model label, e.g. "refills.Refill" (the kind filter's value)
    record: str = ""  # the record in words, e.g. "Refill of Tue 3 Mar 2026 10:00"
    patient_id: int | None = None
    patient: str = ""  # "Family, Given (MRN x)"
    changes: tuple[FieldChange, ...] = ()


@dataclass(frozen=True)
class AuditFilter:
    """What the page and the CSV show. `user_id` 0 means changes made by the system."""

    clinic_ids: tuple[int, ...]
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    patient_id: int | None = None
    user_id: int | None = None
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Source:
    model: type
    key: str
    clinic_path: str
    patient_path: str | None


def tracked_models() -> Iterator[tuple[type, str, str | None]]:
    for source in _sources():
        yield source.model, source.clinic_path, source.patient_path


def _sources() -> list[_Source]:
    found = []
    for label, clinic_path, patient_path in TRACKED:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue  # an app that is not installed in this deployment
        if getattr(model, "history", None) is not None:
            found.append(_Source(model, label, clinic_path, patient_path))
    return found


def kind_choices() -> list[tuple[str, str]]:
    """(value, label) of every kind of record the trail holds, for the kind filter."""
    return [(s.key, _kind_label(s.model)) for s in _sources()]


def _kind_label(model) -> str:
    return str(model._meta.verbose_name).capitalize()


def _in(path: str, ids: Iterable[int]) -> dict:
    return {"id__in" if path == "id" else f"{path}__in": list(ids)}


# --------------------------------------------------------------------------- finding rows


def _arm(source: _Source, flt: AuditFilter) -> QuerySet | None:
    """One history table's rows matching the filter, as the UNION's common columns."""
    if flt.kinds and source.key not in flt.kinds:
        return None
    if flt.patient_id is not None and source.patient_path is None:
        return None
    rows = source.model.history.filter(**_in(source.clinic_path, flt.clinic_ids))
    if flt.since is not None:
        rows = rows.filter(history_date__gte=flt.since)
    if flt.until is not None:
        rows = rows.filter(history_date__lt=flt.until)
    if flt.user_id == 0:
        rows = rows.filter(history_user__isnull=True)
    elif flt.user_id is not None:
        rows = rows.filter(history_user_id=flt.user_id)
    if flt.patient_id is not None:
        rows = rows.filter(**{source.patient_path: flt.patient_id})
    patient = (
        F(source.patient_path)
        if source.patient_path is not None
        # Typed, not a bare NULL: PostgreSQL types a UNION column from its first arms, and
        # two leading NULLs would make it text against the bigint patient ids after them.
        else Cast(Value(None), output_field=BigIntegerField())
    )
    return (
        rows.annotate(audit_kind=Value(source.key, output_field=CharField()), patient_ref=patient)
        .values("history_id", "history_date", "audit_kind", "patient_ref")
        .order_by()
    )


def matching_rows(flt: AuditFilter) -> QuerySet | None:
    """Every matching change as (history_id, history_date, kind, patient_ref), newest first.
    One statement; None when no kind of record can match."""
    arms = [arm for s in _sources() if (arm := _arm(s, flt)) is not None]
    if not arms:
        return None
    first, *rest = arms
    combined = first.union(*rest, all=True) if rest else first
    return combined.order_by("-history_date", "-history_id", "audit_kind")


@dataclass
class AuditPage:
    entries: list[AuditEntry]
    page: Page | None
    total: int


def audit_page(*, flt: AuditFilter, tz: ZoneInfo, page_number=1, per_page=PAGE_SIZE) -> AuditPage:
    """One page of the trail, newest first, with the diff of each change."""
    rows = matching_rows(flt)
    if rows is None:
        return AuditPage(entries=[], page=None, total=0)
    page = Paginator(rows, per_page).get_page(_page_number(page_number))
    return AuditPage(
        entries=describe(list(page.object_list), tz=tz),
        page=page,
        total=page.paginator.count,
    )


def _page_number(value) -> int:
    """The page asked for, page 1 for anything that is not a page (missing, text, zero or
    negative): Django's get_page would send 0 and -1 to the last page, the oldest changes,
    which reads as if the newest were missing. A number past the end still gives the
    last page."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 1
    return max(number, 1)


def iter_entries(*, flt: AuditFilter, tz: ZoneInfo, chunk: int = 500) -> Iterator[AuditEntry]:
    """Every matching change, newest first, read a chunk at a time (the CSV export)."""
    rows = matching_rows(flt)
    if rows is None:
        return
    paginator = Paginator(rows, chunk)
    for number in paginator.page_range:
        yield from describe(list(paginator.page(number).object_list), tz=tz)


def audit_entries(
    *, clinic_ids: Iterable[int], since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[AuditEntry]:
    """Every change in the clinics within [since, until), oldest first."""
    flt = AuditFilter(clinic_ids=tuple(clinic_ids), since=since, until=until)
    rows = matching_rows(flt)
    if rows is None:
        return []
    entries = describe(list(rows), tz=timezone.get_current_timezone())
    return list(reversed(entries))


def patient_history(*, patient, limit: int = 200) -> list[AuditEntry]:
    """Changes to one patient's record and everything hanging off it, newest first."""
    flt = AuditFilter(clinic_ids=(patient.clinic_id,), patient_id=patient.pk)
    return audit_page(flt=flt, tz=patient.clinic.tz, per_page=limit).entries


# --------------------------------------------------------------------------- describing rows


def _with_previous(model, history_ids: list[int]) -> tuple[list, dict]:
    """The historical rows named, and the version before each (two queries)."""
    history = model.history.model
    before = history.objects.filter(id=OuterRef("id")).filter(
        Q(history_date__lt=OuterRef("history_date"))
        | Q(history_date=OuterRef("history_date"), history_id__lt=OuterRef("history_id"))
    )
    previous_id = before.order_by("-history_date", "-history_id").values("history_id")[:1]
    rows = list(
        history.objects.filter(history_id__in=history_ids)
        .select_related("history_user")
        .annotate(previous_history_id=Subquery(previous_id))
    )
    wanted = [r.previous_history_id for r in rows if r.previous_history_id is not None]
    previous = history.objects.in_bulk(wanted) if wanted else {}
    return rows, {r.history_id: previous.get(r.previous_history_id) for r in rows}


@dataclass
class _Draft:
    """A row and its previous version, before foreign keys and patients are named."""

    source: _Source
    row: object
    previous: object | None
    patient_ref: int | None
    change: str
    columns: tuple = ()  # the changed model fields, in the history table's column order
    shown: tuple = ()  # the fields whose values are listed (all set ones for a creation)


def describe(rows: list[dict], *, tz: ZoneInfo) -> list[AuditEntry]:
    """AuditEntry for each UNION row (history_id, kind, patient_ref), in the same order."""
    sources = {s.key: s for s in _sources()}
    by_kind: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        by_kind[r["audit_kind"]].append(r["history_id"])
    drafts: dict[tuple[str, int], _Draft] = {}
    for kind, ids in by_kind.items():
        source = sources[kind]
        found, previous = _with_previous(source.model, ids)
        for row in found:
            drafts[(kind, row.history_id)] = _draft(source, row, previous[row.history_id])
    for r in rows:
        draft = drafts.get((r["audit_kind"], r["history_id"]))
        if draft is not None:
            draft.patient_ref = r["patient_ref"]
    names = _Names.load(drafts.values())
    return [
        _entry(drafts[(r["audit_kind"], r["history_id"])], names, tz)
        for r in rows
        if (r["audit_kind"], r["history_id"]) in drafts
    ]


def _draft(source: _Source, row, previous) -> _Draft:
    model = source.model
    column_order = {f.attname: i for i, f in enumerate(model.history.model._meta.concrete_fields)}
    ignored = _IGNORED | _BOOKKEEPING.get(source.key, set())

    def in_column_order(fields) -> tuple:
        return tuple(sorted(fields, key=lambda f: column_order[f.attname]))

    if row.history_type == "~" and previous is not None:
        changed = in_column_order(changed_fields(row, previous, skip=ignored))
        shown = changed
    elif row.history_type == "+":
        changed = in_column_order(
            f for f in row.tracked_fields if f.name != "id" and f.name not in ignored
        )
        shown = tuple(f for f in changed if getattr(row, f.attname) not in (None, ""))
    else:
        changed = shown = ()
    answer = _invitation_answer(model, row, previous)
    if answer is not None:
        # The answer is shown with when, never with the account that gave it.
        shown = tuple(f for f in shown if f.name != "answered_by")
    change = answer or CHANGE_TYPES.get(row.history_type, row.history_type)
    return _Draft(source, row, previous, None, change, changed, shown)


def _invitation_answer(model, row, previous) -> str | None:
    """ "accepted" or "declined" when this history row of a StaffInvitation records the
    invitee's answer, else None. The answer is given by an account that is not (or not
    yet) the clinic's: the inviting clinic sees the answer and when, never that
    account's user name or id (a declined invitation must not reveal who has the
    address)."""
    if model._meta.label != "accounts.StaffInvitation" or row.history_type != "~":
        return None
    for name, word in (("accepted_at", "accepted"), ("declined_at", "declined")):
        if getattr(row, name) is not None and (previous is None or getattr(previous, name) is None):
            return word
    return None


def _sensitive(source: _Source, model_field) -> bool:
    return bool(_SENSITIVE_NAME.search(model_field.name)) or (
        (source.key, model_field.name) in _SENSITIVE_FIELDS
    )


@dataclass
class _Names:
    """Readable names of the foreign keys and patients of a page (a query per model)."""

    related: dict[tuple[type, object], str] = field(default_factory=dict)
    patients: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, drafts: Iterable[_Draft]) -> _Names:
        wanted: dict[type, set] = defaultdict(set)
        patients: set[int] = set()
        for d in drafts:
            if d.patient_ref is not None:
                patients.add(d.patient_ref)
            if d.source.key == "accounts.Membership":
                wanted[d.row._meta.get_field("user").related_model].add(d.row.user_id)
            for f in d.shown:
                if f.is_relation and not _sensitive(d.source, f):
                    for version in (d.row, d.previous):
                        value = getattr(version, f.attname, None) if version else None
                        if value is not None:
                            wanted[f.related_model].add(value)
        names = cls()
        for model, pks in wanted.items():
            for obj in _named(model, pks):
                names.related[(model, obj.pk)] = _object_name(obj)
        patient_model = apps.get_model("patients", "Patient")
        for p in patient_model.objects.filter(pk__in=patients).only(
            "given_name", "family_name", "mrn"
        ):
            names.patients[p.pk] = f"{p.family_name}, {p.given_name} (MRN {p.mrn})"
        return names

    def of(self, model, pk) -> str:
        return self.related.get((model, pk), f"#{pk}")


def _named(model, pks) -> QuerySet:
    """The rows to name, with what their name needs (no query per row)."""
    rows = model._default_manager.filter(pk__in=pks)
    label = model._meta.label
    if label in ("refills.Refill", "refills.DrugProgram"):
        rows = rows.select_related("pump")
    elif label == "patients.Pump":
        rows = rows.select_related("model")
    return rows


def _object_name(obj) -> str:
    """A short name of a related row, without queries beyond _named's."""
    label = obj._meta.label
    if label == "accounts.User":
        full = obj.get_full_name()
        return f"{full} ({obj.get_username()})" if full else obj.get_username()
    if label == "patients.Patient":
        return f"{obj.family_name}, {obj.given_name} (MRN {obj.mrn})"
    if label == "patients.Pump":
        return f"{obj.model.name} SN {obj.serial_number}"
    if label == "refills.Refill":
        when = timezone.localtime(obj.performed_at)
        return f"refill of {date_text(when)} {when:%H:%M}, pump SN {obj.pump.serial_number}"
    if label == "refills.DrugProgram":
        return f"{obj} from {date_text(timezone.localtime(obj.effective_from))}"
    if label == "refills.Appointment":
        return f"{obj.get_kind_display()} visit #{obj.pk}"
    return str(obj)


def value_text(model_field, value, names: _Names, tz: ZoneInfo) -> str:
    """A stored value as people read it, one rule per kind of field (the one place the
    trail formats a value, page and CSV): choices by label, foreign keys by name, working
    weekdays as the clinic pages show them ("Mon–Fri"), moments in the clinic's zone to
    the minute, times of day as HH:MM, dates in words, yes/no, an em dash for nothing."""
    if value is None or value == "" or value == []:
        return EMPTY
    if model_field.is_relation:
        return names.of(model_field.related_model, value)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if validate_working_days in model_field.validators:
        return working_days_text(str(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        local = timezone.localtime(value, tz) if timezone.is_aware(value) else value
        return f"{date_text(local)} {local:%H:%M}"
    if isinstance(value, dt.date):
        return date_text(value)
    if isinstance(value, dt.time):
        return f"{value:%H:%M}"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return str(value)


def _field_changes(draft: _Draft, names: _Names, tz: ZoneInfo) -> tuple[FieldChange, ...]:
    changes = []
    for f in draft.shown:
        label = str(f.verbose_name)
        label = label[:1].upper() + label[1:]
        if _sensitive(draft.source, f):
            changes.append(FieldChange(label, HIDDEN_VALUE, HIDDEN_VALUE, hidden=True))
            continue
        old = (
            value_text(f, getattr(draft.previous, f.attname), names, tz)
            if draft.previous is not None and draft.row.history_type == "~"
            else EMPTY
        )
        new = value_text(f, getattr(draft.row, f.attname), names, tz)
        changes.append(FieldChange(label, old, new))
    return tuple(changes)


def _entry(draft: _Draft, names: _Names, tz: ZoneInfo) -> AuditEntry:
    row = draft.row
    model = draft.source.model
    user = row.history_user
    answer = draft.change in ("accepted", "declined")
    columns = tuple(f.attname for f in draft.columns)
    if answer:
        columns = tuple(c for c in columns if c != "answered_by_id")
    if answer:
        user_id, username, display = None, INVITEE, INVITEE
    elif user is not None:
        user_id, username = user.pk, user.get_username()
        full = user.get_full_name()
        display = f"{full} ({username})" if full else username
    else:
        user_id, username, display = None, SYSTEM_USER, SYSTEM_USER
    return AuditEntry(
        at=row.history_date,
        model=_kind_label(model),
        object_id=row.id,
        change=draft.change,
        user_id=user_id,
        username=username,
        user_display=display,
        fields=columns,
        kind=draft.source.key,
        record=_record_text(draft, names, tz),
        patient_id=draft.patient_ref,
        patient=names.patients.get(draft.patient_ref, "") if draft.patient_ref else "",
        changes=_field_changes(draft, names, tz),
    )


def _record_text(draft: _Draft, names: _Names, tz: ZoneInfo) -> str:
    """Which record, in words, from the historical row itself (no query)."""
    row, key = draft.row, draft.source.key
    kind = _kind_label(draft.source.model)

    def when(value) -> str:
        local = timezone.localtime(value, tz)
        return f"{date_text(local)} {local:%H:%M}"

    details = {
        "patients.Pump": lambda: f"SN {row.serial_number}",
        "patients.Caregiver": lambda: row.name,
        "refills.Refill": lambda: f"of {when(row.performed_at)}, lot {row.lot_number}",
        "refills.DrugProgram": lambda: f"from {when(row.effective_from)}",
        "refills.Appointment": lambda: f"{row.get_kind_display()}, {when(row.scheduled_start)}",
        "refills.PumpReport": lambda: row.get_kind_display(),
        "refills.Override": lambda: row.rule,
        "patients.ClinicClosure": lambda: (
            date_text(row.first_day)
            + ("" if row.last_day == row.first_day else f" to {date_text(row.last_day)}")
            + f": {row.reason}"
        ),
        "reminders.Alert": lambda: row.get_kind_display(),
        "accounts.Membership": lambda: names.of(
            row._meta.get_field("user").related_model, row.user_id
        ),
        "accounts.StaffInvitation": lambda: row.email,
        "reminders.MessageTemplate": lambda: f"{row.kind}, {row.channel}",
        "reports.AdvisoryLookup": lambda: (
            f"{row.get_action_display()}, {row.patients_found} patient(s) found"
        ),
    }
    detail = details.get(key)
    return f"{kind} #{row.id}" + (f" ({detail()})" if detail else "")


# --------------------------------------------------------------------------- filter choices


def audit_users(*, clinic_id: int) -> list[tuple[int, str]]:
    """Everyone who is or was a member of the clinic (the membership history keeps those
    who were removed), for the "changed by" filter. One query."""
    user_model = apps.get_model("accounts", "User")
    membership = apps.get_model("accounts", "Membership")
    ever = membership.history.filter(clinic_id=clinic_id).values("user_id")
    users = user_model.objects.filter(pk__in=ever).order_by("last_name", "first_name", "username")
    return [
        (u.pk, f"{u.get_full_name()} ({u.get_username()})" if u.get_full_name() else u.username)
        for u in users
    ]


def patient_in_clinic(*, clinic_id: int, patient_id: int | None = None, mrn: str = ""):
    """The clinic's patient with this id or MRN (case as typed), else None: another
    clinic's patient is as absent as a missing one."""
    patient_model = apps.get_model("patients", "Patient")
    rows = patient_model.objects.filter(clinic_id=clinic_id)
    if patient_id is not None:
        return rows.filter(pk=patient_id).first()
    if mrn:
        return rows.filter(mrn=mrn).first()
    return None
