"""Pump serial numbers in the order a field-safety notice's ranges mean (pure, no Django).

Notices name ranges such as "NGP100000H to NGP250000H". Serials are typed with or without
leading zeros, in either case, with spaces or dashes. The sort key compares serials piece
by piece: letters as text (case ignored), each run of digits as a number (leading zeros
ignored: "NGP000123H" and "NGP123H" are the same place in the order), anything else
(spaces, dashes, dots, non-ASCII) left out. A digit run is written as its length (two
digits) then its digits, so plain text comparison of keys (an index range scan in the
database) is numeric comparison of the runs.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[0-9]+|[A-Z]+")
KEY_MAX_LENGTH = 120  # a 50-character serial alternating digit and letter: 25 x 3 + 25


def serial_sort_key(serial: str) -> str:
    parts = []
    for token in _TOKEN.findall((serial or "").upper()):
        if token[0].isdigit():
            digits = token.lstrip("0")
            parts.append(f"{len(digits):02d}{digits}")
        else:
            parts.append(token)
    return "".join(parts)
