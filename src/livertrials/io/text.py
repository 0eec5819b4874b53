"""How text from an extraction is shown in a message: bounded, so one absurd cell cannot flood a report.

Also the one home for naming characters a reader cannot tell apart on screen (a Cyrillic 'с'
for a Latin 'c', an Arabic-Indic '٣' for '3', U+2212 for '-'): a message shows such a character
with its code point and Unicode name, so the reviewer can find it.
"""

from __future__ import annotations

import unicodedata

SHOWN_LIMIT = 80  # characters of a value shown in a message; the rest becomes "..."
# characters typed or pasted where a plain ASCII minus or hyphen belongs (word processors, PDFs, Excel)
MINUS_LIKE = frozenset("\u2212\u2010\u2011\u2012\u2013\u2014\u2015\ufe58\ufe63\uff0d")
CHARACTERS_NAMED = 3  # at most this many distinct characters are named in one hint


def shorten(text: str, limit: int = SHOWN_LIMIT) -> str:
    """``text`` cut to ``limit`` characters plus "..." if it is longer (cutting twice changes nothing)."""
    return text if len(text) <= limit else text[:limit] + "..."


def quoted(value, limit: int = SHOWN_LIMIT) -> str:
    """repr() of a value (a newline in it cannot forge a report line), cut to ``limit`` characters."""
    return shorten(repr(value), limit)


def describe_character(char: str) -> str:
    """One character as a reviewer can find it: "'с' (U+0441 CYRILLIC SMALL LETTER ES)"."""
    return f"{char!r} (U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')})"


def foreign_digits(text: str) -> list[str]:
    """Distinct decimal digits of other scripts (Arabic-Indic, full-width, Devanagari, ...) in ``text``, in order."""
    return list(dict.fromkeys(c for c in text if not c.isascii() and unicodedata.decimal(c, None) is not None))


def character_hint(text: str) -> str:
    """A sentence naming the characters of ``text`` that look like ASCII but are not, and what to type; "" if none.

    Digits of other scripts, minus-like dashes, letters of other scripts (look-alikes), unusual spaces and a
    line break at the end are named with their code points; accented letters in free text are not this
    function's concern (it is called for ids, numbers, units and timepoints only)."""
    if not isinstance(text, str):
        return ""
    parts = []
    digits = foreign_digits(text)
    if digits:
        shown = ", ".join(describe_character(c) for c in digits[:CHARACTERS_NAMED])
        parts.append(f"{shown} {'is not an ASCII digit' if len(digits) == 1 else 'are not ASCII digits'}: type the digits 0-9")
    minus = list(dict.fromkeys(c for c in text if c in MINUS_LIKE))
    if minus:
        shown = ", ".join(describe_character(c) for c in minus[:CHARACTERS_NAMED])
        parts.append(f"{shown} is not a plain minus or hyphen: use '-' (U+002D)")
    letters = list(dict.fromkeys(c for c in text if not c.isascii() and c.isalpha()))
    if letters:
        shown = ", ".join(describe_character(c) for c in letters[:CHARACTERS_NAMED])
        parts.append(f"{shown} {'is not a Latin letter' if len(letters) == 1 else 'are not Latin letters'} "
                     "though it may look like one: retype it")
    spaces = list(dict.fromkeys(c for c in text if not c.isascii() and c.isspace()))
    if spaces:
        parts.append(f"{', '.join(describe_character(c) for c in spaces[:CHARACTERS_NAMED])} is not a plain space")
    if text != text.rstrip("\r\n") and text.strip():
        parts.append("the value ends with a line break: remove it")
    return "; ".join(parts)


def with_article(label: str) -> str:
    """'a mean', 'an odds ratio': the label with its indefinite article (by its first letter)."""
    return f"{'an' if label[:1].lower() in 'aeiou' else 'a'} {label}"
