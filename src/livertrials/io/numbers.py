"""Numbers as printed in an extraction: a dot as decimal mark, finite, no units or text.

One home for reading a printed number, used by validation (is it a number? why not?)
and by harmonization (its value). Digits are ASCII only: Python's ``\\d`` and ``float()`` would also
read Arabic-Indic or full-width digits, which an extraction must not carry unnoticed.
"""

from __future__ import annotations

import math
import re

from livertrials.io.text import MINUS_LIKE, character_hint, foreign_digits

# p values may carry a comparison: "<0.05", "= 0.003", "≤0.001"
P_VALUE = re.compile(r"^\s*[<>≤≥]?=?\s*([0-9]*\.?[0-9]+(?:[eE]-?[0-9]+)?)\s*$")
NUMBER = re.compile(r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$")
# words float() would accept or an extractor might type for a missing value: never a printed number
NON_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "na", "n/a"}


def parse_number(text: str) -> float | None:
    """A finite number written with a dot as decimal mark, else None."""
    if not NUMBER.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def p_value_number(text: str | None) -> float | None:
    """The number in a printed p value ("<0.05" -> 0.05), else None."""
    match = P_VALUE.match(text or "")
    return float(match.group(1)) if match else None


def explain_number(text: str) -> str:
    """Why ``text`` is not a number as printed, in words an extractor can act on."""
    stripped = text.strip()
    if stripped == "":
        return "the value is empty; if the source did not print it, add the flag not_printed"
    if foreign_digits(stripped) or any(c in MINUS_LIKE for c in stripped):
        return f"the value is not a number as typed: {character_hint(stripped)}"
    if "," in stripped and re.match(r"^[-+]?[\d.,]*\d[\d.,]*$", stripped):
        return ("a comma is used in the number; write a dot as decimal mark and no thousands separator "
                "(e.g. 3,5 -> 3.5; 1,250 -> 1250)")
    if stripped.lower() in NON_FINITE or (NUMBER.match(stripped) and not math.isfinite(float(stripped))):
        return "the value must be a finite number as printed (not NaN, infinity or a number too large to store)"
    return "the value is not a number (write it with a dot as decimal mark, no units or text)"
