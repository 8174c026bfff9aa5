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

One exception: a cell that is exactly a plain E.164 phone number (``+`` then 6 to 15
digits, nothing else) is written as it is, so a recall call list has dialable numbers. It
cannot be a formula with any effect: at worst a spreadsheet reads it as the number itself
(no function, no reference, no operator but the sign). Every other cell starting with a
formula character is still neutralised.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse

# Characters that make a spreadsheet read a cell as a formula (OWASP), with their
# full-width forms.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
# A plain E.164 number, ASCII digits only; matched against the whole cell (fullmatch), so
# no leading space, no trailing newline, nothing after the digits.
E164 = re.compile(r"\+[0-9]{6,15}")


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
    if E164.fullmatch(text):
        return text
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
