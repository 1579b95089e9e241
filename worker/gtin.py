"""GTIN normalization in Python, the same rule as `public.normalize_gtin` in SQL (the generated
`gtin` column): separators dropped, GTIN-8/12/13/14 with a GS1 check digit, UPC-A as 13 digits,
a GTIN-14 starting with 0 as its GTIN-13, all zeros invalid. The SQL function is the source of
truth; a property test keeps the two identical on every input."""

from __future__ import annotations

import re

# What SQL's [[:space:].-] removes: ASCII whitespace, dots and dashes.
_SEPARATORS = re.compile(r"[ \t\n\r\v\f.\-]")
_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def check_digit(body: str) -> int:
    """GS1 mod-10 over the digits left of the check digit (weights 3, 1, 3, ... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def normalize_gtin(code: str | None) -> str | None:
    if code is None:
        return None
    digits = _SEPARATORS.sub("", code)
    if not _DIGITS.fullmatch(digits) or len(digits) not in (8, 12, 13, 14) or set(digits) == {"0"}:
        return None
    if check_digit(digits[:-1]) != int(digits[-1]):
        return None
    if len(digits) == 12:
        return "0" + digits
    if len(digits) == 14 and digits[0] == "0":
        return digits[1:]
    return digits
