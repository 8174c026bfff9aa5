"""What one change recorded by django-simple-history touched.

The audit trail (reports.audit) and the patient page's change history both name the
fields a historical row changed; this is the one place that decides it. It imports no
app, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db.models import Field


def changed_fields(record, previous, *, skip: Collection[str] = ()) -> list[Field]:
    """The tracked model's fields whose value differs between two historical rows of the
    same object (`previous` the older), in the model's field order. `skip` holds field
    names or attnames to leave out (bookkeeping such as ``updated_at``).

    The tracked model's fields are returned (not names) so a caller can show the column
    (``attname``) or the label (``verbose_name``). Foreign keys compare by id: no query.
    """
    fields = [f for f in record.tracked_fields if f.name not in skip and f.attname not in skip]
    # diff_against compares through django.forms.model_to_dict, which leaves out fields with
    # editable=False (it would even fail on them if asked); those are audit-worthy here (a
    # 2FA reset time, an invitation's answer), so they are compared column by column.
    delta = record.diff_against(previous, included_fields={f.name for f in fields if f.editable})
    changed = set(delta.changed_fields)
    changed.update(
        f.name
        for f in fields
        if not f.editable and getattr(record, f.attname) != getattr(previous, f.attname)
    )
    return [f for f in fields if f.name in changed]
