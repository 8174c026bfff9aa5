"""What every refills service shares: the findings gate, override records, second persons.

Nothing is written unless every ERROR is fixed and every warning carries an override
reason from someone allowed to give it (`_enforce`).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError

from accounts.models import Role
from patients.models import Pump, PumpStatus
from refills import validation as v
from refills.models import EXPLAINED_DISCREPANCY_ACTIONS as MODEL_EXPLAINED_ACTIONS
from refills.models import Override

# Actions that say the discrepancy has been explained, so it no longer raises the tier;
# each needs its evidence (Refill.discrepancy_explained). "Observe" is not one of them.
EXPLAINED_DISCREPANCY_ACTIONS = MODEL_EXPLAINED_ACTIONS


class ClinicalValidationError(ValidationError):
    """Raised with every finding that stops a save, grouped by form field."""

    def __init__(self, findings: Sequence[v.Finding]):
        self.findings = list(findings)
        by_field: dict[str, list[str]] = {}
        for finding in self.findings:
            by_field.setdefault(finding.field or "__all__", []).append(finding.message)
        super().__init__(by_field)


def _enforce(findings: Sequence[v.Finding], *, by, clinic, override_reason: str) -> list[v.Finding]:
    """Raise unless the findings may be saved; return the warnings being overridden."""
    blocking = [f for f in findings if f.blocks]
    overridable = [f for f in findings if f.needs_override]
    if overridable and not override_reason.strip():
        blocking += [
            v.Finding(
                f.code,
                f.field,
                f"{f.message} To proceed, give an override reason.",
                f.severity,
            )
            for f in overridable
        ]
    elif any(f.severity == v.Severity.PHYSICIAN for f in overridable) and not by.has_role(
        clinic, Role.PHYSICIAN
    ):
        blocking += [
            v.Finding(
                f.code,
                f.field,
                f"{f.message} Only a physician can override this.",
                f.severity,
            )
            for f in overridable
            if f.severity == v.Severity.PHYSICIAN
        ]
    if blocking:
        raise ClinicalValidationError(blocking)
    return overridable


def _pump_active_findings(pump: Pump) -> list[v.Finding]:
    if pump.status == PumpStatus.ACTIVE:
        return []
    return [
        v.Finding(
            "pump_not_active",
            None,
            "This pump is explanted. Record the change on the patient's active pump.",
            v.Severity.ERROR,
        )
    ]


def _record_overrides(findings, *, by, reason: str, pump: Pump, **target) -> None:
    for finding in findings:
        Override.objects.create(
            rule=finding.code,
            message=finding.message,
            reason=reason.strip(),
            requires_physician=finding.severity == v.Severity.PHYSICIAN,
            overridden_by=by,
            pump=pump,
            **target,
        )


# Roles that may be the second clinician on a custom strength or the second checker of a
# refill: the people at this clinic who handle the drug.
SECOND_PERSON_ROLES = (Role.NURSE, Role.PHYSICIAN)


def _second_person_findings(*, person, field: str, clinic, by, what: str) -> list[v.Finding]:
    """The second person must be someone else with a clinical role at THIS clinic.

    The form offers only such people, but the service is the gate: a tampered post (or a
    future API) must not name a user of another clinic, a scheduler or the author.
    """
    if person is None:
        return []
    if not person.is_active or not person.has_role(clinic, *SECOND_PERSON_ROLES):
        return [
            v.Finding(
                f"{field}_not_at_clinic",
                field,
                f"The {what} must be a nurse or physician of this clinic.",
                v.Severity.ERROR,
            )
        ]
    if by is not None and person.pk == by.pk:
        return [
            v.Finding(
                f"{field}_is_author",
                field,
                f"The {what} must be someone other than you.",
                v.Severity.ERROR,
            )
        ]
    return []
