"""CSV downloads that a spreadsheet cannot turn into formulas (CSV/formula injection).

Every CSV export goes through :func:`csv_response` (or :func:`safe_row`), so a cell that a
person typed (a username, a note, a name) and that starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return (or their full-width forms, which some spreadsheets also read) is
written with a leading single quote: Excel, LibreOffice and Google Sheets show it as text
and never evaluate it (OWASP "CSV Injection").

Choice: only *strings* are neutralised, every one of them, even ``"-2.5"``; numbers the code
itself puts in a cell (int, Decimal, float) are written as numbers and stay numbers, so a
negative dose difference still sums in a spreadsheet. A value that must stay numeric is
therefore passed as a number, never pre-formatted as a string.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse

# Characters that make a spreadsheet read a cell as a formula (OWASP), with their
# full-width forms.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def safe_cell(value: Any) -> Any:
    """The value to write in a CSV cell: numbers as they are, text that could start a
    formula behind a single quote, None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    # Spreadsheets skip leading spaces before deciding a cell is a formula.
    if text.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + text
    return text


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable[Any]]):
    """A streamed CSV download with every cell neutralised."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(safe_row(header))
        for row in rows:
            yield writer.writerow(safe_row(row))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
