"""The audit trail: every recorded change to clinical data, scoped to clinics.

django-simple-history writes a historical row for each create, update and
delete of the tracked models. This module reads them back, clinic by clinic,
and names the fields each change touched. Nothing here writes history: the
application offers no way to edit or delete it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.apps import apps
from django.db.models import QuerySet

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
)

CHANGE_TYPES = {"+": "created", "~": "changed", "-": "deleted"}
# Changes to these are bookkeeping, not clinical changes.
_IGNORED = {"updated_at"}


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    model: str
    object_id: int
    change: str
    user_id: int | None
    username: str
    fields: tuple[str, ...]


def tracked_models() -> Iterator[tuple[type, str, str | None]]:
    for label, clinic_path, patient_path in TRACKED:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue  # an app that is not installed in this deployment
        if getattr(model, "history", None) is not None:
            yield model, clinic_path, patient_path


def _in(path: str, ids: Iterable[int]) -> dict:
    return {"id__in" if path == "id" else f"{path}__in": list(ids)}


INVITEE = "the invitee"


def _invitation_answer(model, row, previous) -> str | None:
    """ "accepted" or "declined" when this history row of a StaffInvitation records the
    invitee's answer, else None. The answer is given by an account that is not (or not
    yet) the clinic's: the inviting clinic sees the answer and when, never that
    account's user name or id (a declined invitation must not reveal who has the
    address)."""
    if model._meta.label != "accounts.StaffInvitation" or row.history_type != "~":
        return None
    for field, word in (("accepted_at", "accepted"), ("declined_at", "declined")):
        if getattr(row, field) is not None and (
            previous is None or previous.id != row.id or getattr(previous, field) is None
        ):
            return word
    return None


def _entries(model, rows: QuerySet) -> Iterator[AuditEntry]:
    """Turn historical rows (ordered by object, then time) into entries with changed fields."""
    # Fields are listed in the history table's column order (foreign keys last), as the
    # audit report and its CSV always have.
    column_order = {f.attname: i for i, f in enumerate(model.history.model._meta.concrete_fields)}

    def in_column_order(fields) -> tuple[str, ...]:
        return tuple(sorted((f.attname for f in fields), key=column_order.__getitem__))

    previous = None
    for row in rows.select_related("history_user").order_by("id", "history_date", "history_id"):
        if row.history_type == "~" and previous is not None and previous.id == row.id:
            changed = in_column_order(changed_fields(row, previous, skip=_IGNORED))
        elif row.history_type == "+":
            changed = in_column_order(
                f for f in row.tracked_fields if f.name != "id" and f.name not in _IGNORED
            )
        else:
            changed = ()
        answer = _invitation_answer(model, row, previous)
        previous = row
        user = row.history_user
        if answer is not None:
            yield AuditEntry(
                at=row.history_date,
                model=str(model._meta.verbose_name).capitalize(),
                object_id=row.id,
                change=answer,
                user_id=None,
                username=INVITEE,
                fields=tuple(f for f in changed if f != "answered_by_id"),
            )
            continue
        yield AuditEntry(
            at=row.history_date,
            model=str(model._meta.verbose_name).capitalize(),
            object_id=row.id,
            change=CHANGE_TYPES.get(row.history_type, row.history_type),
            user_id=user.pk if user else None,
            username=user.get_username() if user else "system",
            fields=changed,
        )


def audit_entries(
    *, clinic_ids: Iterable[int], since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[AuditEntry]:
    """Every change in the clinics within [since, until), oldest first."""
    clinic_ids = list(clinic_ids)
    entries: list[AuditEntry] = []
    for model, clinic_path, _ in tracked_models():
        # Diffs need the row before `since`, so filter by time after diffing.
        rows = model.history.filter(**_in(clinic_path, clinic_ids))
        entries += [
            e
            for e in _entries(model, rows)
            if (since is None or e.at >= since) and (until is None or e.at < until)
        ]
    entries.sort(key=lambda e: e.at)
    return entries


def patient_history(*, patient, limit: int = 200) -> list[AuditEntry]:
    """Changes to one patient's record and everything hanging off it, newest first."""
    entries: list[AuditEntry] = []
    for model, _, patient_path in tracked_models():
        if patient_path is None:
            continue
        entries += _entries(model, model.history.filter(**_in(patient_path, [patient.pk])))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
