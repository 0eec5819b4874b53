"""Value in quote: the number a row gives must be printed in the quote it cites.

A value typed wrong (36.4 -> 38.4) passes every range check; the quote beside it is the one witness.
The comparison is numeric, over every way a number is printed: thousands separators (1,234 / 1 234 /
1.234,5), a decimal comma or middle dot, U+2212 and other minus signs, full-width digits, trailing
zeros (36.40 is 36.4), a percent sign, "±" and "+/-", powers of ten (10 x 10(5), 1.2×10⁵, and 1× 106
where copying flattened a superscript), "2.5 million", and English number words ("Fifty-three patients").
The whole quote is searched, so a Chinese quote's English gloss in [brackets] counts as well.
A row whose quote does not print its value on purpose (a gloss, a number derived from the printed
ones, a secondary source's wording) carries the flag ``quote_is_gloss`` and is not checked.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from livertrials.io.extraction import MEASUREMENTS_FILE, StudyFolder
from livertrials.io.numbers import P_VALUE
from livertrials.io.tables import row_dicts
from livertrials.io.text import quoted
from livertrials.validate.issues import Issue

QUOTE_FLAG = "quote_is_gloss"
RULE = "value in quote"
QUOTE_SHOWN = 160  # characters of the quote shown in a warning

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUPERSCRIPT_RUN = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+")
# minus signs and dashes written for one: U+2212, hyphens, figure/en/em dash, small and full-width hyphen-minus
_MINUS = re.compile("[\u2212\u2010\u2011\u2012\u2013\u2014\ufe63\uff0d]")
_PLUS_MINUS = re.compile(r"\+\s*/\s*-|\+\s*-(?=\s*\d)")
_MIDDLE_DOT = re.compile(r"(?<=\d)[·•](?=\d)")  # 36·4 (a decimal point in some journals)
QUOTE_LIMIT = 20_000  # characters of a quote searched (the longest shipped quote has 645): a huge cell stays quick
# A number as printed, taken whole from the start of its run of digits: atomic, so a failed match never
# backtracks into it (a long run of digits costs linear time, not quadratic).
_NUM = r"(?<![\d.])(?>\d+(?:\.\d+)?|\.\d+)"
_PLAIN = re.compile(_NUM)
_DECIMAL_COMMA = re.compile(r"(?<![\d,.])\d++,\d++(?![,.]\d)")
_THOUSANDS = re.compile(r"(?<![\d,.])\d{1,3}(?:(?P<sep>[, '])\d{3})(?:(?P=sep)\d{3})*+(?:[.,]\d++)?(?![\d])")
_THOUSANDS_DOT = re.compile(r"(?<![\d,.])\d{1,3}(?:\.\d{3})++(?:,\d++)?(?![\d.])")
_POWER = re.compile(rf"(?:({_NUM})\s*+[x×*]\s*+)?10\s*+(?:\^\s*+\(?|\()\s*+(-?\s*+\d{{1,3}})")  # 10^5, 1.2 x 10(5)
# 1 × 106/kg, 5 × 10 7: a superscript exponent flattened when the source was copied
_FLAT_POWER = re.compile(rf"({_NUM})\s*+[x×*]\s*+10 ?(\d{{1,2}})(?![\d.])")
_VALUE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d{1,4})?", re.ASCII)
_E_NOTATION = re.compile(rf"({_NUM})[eE]([-+]?\d{{1,4}})(?!\d)")
_SCALE = re.compile(rf"({_NUM})\s*+(thousand|million|billion)\b", re.IGNORECASE)
_SCALES = {"thousand": 3, "million": 6, "billion": 9}
_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
# English number words up to ninety-nine ("Fifty-three patients", "nine were lost")
_WORD = re.compile(r"\b(?:(" + "|".join(_TENS) + r")(?:[- ](" + "|".join(_UNITS[1:10]) + r"))?|(" + "|".join(_UNITS) + r"))\b",
                   re.IGNORECASE)


def normalize(text: str) -> str:
    """The quote with every character that prints a digit, sign or separator made plain ASCII."""
    # 10⁵ is a power (NFKC alone would make it 105)
    text = _SUPERSCRIPT_RUN.sub(lambda m: "^(" + m.group().translate(_SUPERSCRIPTS) + ")", text)
    text = unicodedata.normalize("NFKC", text)  # full-width digits, ，．％, no-break and thin spaces
    text = _MINUS.sub("-", text)
    text = _PLUS_MINUS.sub("±", text)
    return _MIDDLE_DOT.sub(".", text)


def _signed(text: str, start: int) -> bool:
    """True if the number starting at ``start`` has a minus sign (not a hyphen of a range such as 31-76)."""
    before = text[max(0, start - 8):start].rstrip(" ")  # a short window: a long quote stays linear
    if not before.endswith("-"):
        return False
    return len(before) == 1 or not (before[-2].isalnum() or before[-2] in ").%")


@lru_cache(maxsize=256)  # rows of one table often share a quote
def _text(quote: str) -> str:
    return normalize(quote[:QUOTE_LIMIT])


@lru_cache(maxsize=256)
def plain_numbers(quote: str) -> frozenset[Decimal]:
    """The numbers the quote prints plainly (36.4, -19.13): most values are found here, at a fraction of the cost."""
    text = _text(quote)
    numbers = set()
    for match in _PLAIN.finditer(text):
        number = Decimal(match.group())
        numbers.add(-number if _signed(text, match.start()) else number)
        numbers.add(number)
    return frozenset(numbers)


@lru_cache(maxsize=256)
def printed_numbers(quote: str) -> frozenset[Decimal]:
    """Every number the quote can be read as printing, each with its sign where a minus precedes it."""
    text = _text(quote)
    numbers: set[Decimal] = set(plain_numbers(quote))

    def add(raw: str, start: int) -> None:
        try:
            number = Decimal(raw)
        except InvalidOperation:
            return
        numbers.add(number)
        if _signed(text, start):
            numbers.add(-number)

    for match in _DECIMAL_COMMA.finditer(text):
        add(match.group().replace(",", "."), match.start())
    for match in _THOUSANDS.finditer(text):
        raw = match.group()
        sep = match.group("sep")
        body, _, decimals = raw.rpartition(",") if sep != "," and re.search(r",\d+$", raw) else (raw, "", "")
        add(body.replace(sep, "") + ("." + decimals if decimals else ""), match.start())
    for match in _THOUSANDS_DOT.finditer(text):
        add(match.group().replace(".", "").replace(",", "."), match.start())
    for match in _E_NOTATION.finditer(text):
        add(f"{match.group(1)}e{match.group(2)}", match.start())
    for pattern in (_POWER, _FLAT_POWER):
        for match in pattern.finditer(text):
            mantissa, exponent = match.group(1) or "1", match.group(2).replace(" ", "")
            add(str(Decimal(mantissa).scaleb(int(exponent))), match.start())
    for match in _SCALE.finditer(text):
        add(str(Decimal(match.group(1)).scaleb(_SCALES[match.group(2).lower()])), match.start())
    for match in _WORD.finditer(text):
        tens, unit, small = (g.lower() if g else g for g in match.groups())
        number = _UNITS.index(small) if small else (_TENS.index(tens) + 2) * 10 + (_UNITS.index(unit) if unit else 0)
        numbers.add(Decimal(number))
    return frozenset(numbers)


def value_number(value: str) -> Decimal | None:
    """The number a row's value gives (a p value's comparison sign dropped), or None if it is not one."""
    text = value.strip()
    match = P_VALUE.match(text)
    if match and not re.match(r"^\s*[-+]?\d", text):
        text = match.group(1)
    if not _VALUE.fullmatch(text):
        return None  # not a number as printed: reported by the rule on values
    return Decimal(text)


def value_in_quote(value: str, quote: str) -> bool:
    """True if ``quote`` prints the number ``value`` gives (in any of its printed variants).

    A value that is not a number is left to the rules on values (True here)."""
    number = value_number(value)
    if number is None:
        return True
    return number in plain_numbers(quote) or number in printed_numbers(quote)


def _flags(row: dict) -> set[str]:
    return {f.strip() for f in str(row.get("flags", "")).split(";") if f.strip()}


def quote_warnings(study: StudyFolder) -> list[Issue]:
    """A warning for every row whose value is not printed in its quote (unless flagged quote_is_gloss)."""
    frame = study.measurements
    if not {"row_id", "value", "quote"} <= set(frame.columns):
        return []  # the missing column is reported by the schema
    file = str(study.folder / MEASUREMENTS_FILE)
    warnings = []
    for index, row in zip(frame.index, row_dicts(frame)):
        value, quote = str(row["value"]), str(row["quote"])
        if not value.strip() or not quote.strip() or QUOTE_FLAG in _flags(row) or value_in_quote(value, quote):
            continue
        warnings.append(Issue(
            study.study_id, file, index + 2, str(row["row_id"]), "value", value, RULE,
            f"the value {quoted(value)} does not appear in the quote {quoted(quote, QUOTE_SHOWN)}: check the value "
            f"against the source; if the quote does not print it on purpose (a gloss, a derived number, a secondary "
            f"source's wording), add the flag {QUOTE_FLAG}", "warning"))
    return warnings
