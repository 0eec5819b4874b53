"""How text from an extraction is shown in a message: bounded, so one absurd cell cannot flood a report."""

from __future__ import annotations

SHOWN_LIMIT = 80  # characters of a value shown in a message; the rest becomes "..."


def shorten(text: str, limit: int = SHOWN_LIMIT) -> str:
    """``text`` cut to ``limit`` characters plus "..." if it is longer (cutting twice changes nothing)."""
    return text if len(text) <= limit else text[:limit] + "..."


def quoted(value, limit: int = SHOWN_LIMIT) -> str:
    """repr() of a value (a newline in it cannot forge a report line), cut to ``limit`` characters."""
    return shorten(repr(value), limit)
