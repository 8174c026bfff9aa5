"""Findings: what a check returns instead of raising, and how severe it is."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    PHYSICIAN = "physician"


@dataclass(frozen=True)
class Finding:
    code: str
    field: str | None
    message: str
    severity: Severity

    @property
    def blocks(self) -> bool:
        return self.severity == Severity.ERROR

    @property
    def needs_override(self) -> bool:
        return self.severity in (Severity.WARNING, Severity.PHYSICIAN)


def _error(code: str, field: str | None, message: str) -> Finding:
    return Finding(code, field, message, Severity.ERROR)


def _warning(code: str, field: str | None, message: str) -> Finding:
    return Finding(code, field, message, Severity.WARNING)


def _physician(code: str, field: str | None, message: str) -> Finding:
    return Finding(code, field, message, Severity.PHYSICIAN)


def fmt(value: Decimal | int | float) -> str:
    """Show a number without trailing zeros: 2000, 0.5, 12.25."""
    d = Decimal(str(value)).normalize()
    return f"{d:f}"
