"""Parse timepoints as printed ("week 4", "month 3 (change from baseline)", "weeks 0-24").

A timepoint becomes days since the first treatment. Months are 365.25/12 = 30.4375 days
and years 365.25 days (calendar averages): "month 3" is day 91.3, which lands in the
same analysis window as "week 12" (day 84). The printed text is always kept beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from livertrials.io.text import quoted

DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "year": 365.25}

# Phrases meaning "the source does not say when": kept, never placed in a window
# without a recorded decision.
NOT_STATED = re.compile(
    r"^(not stated|end of follow-up|follow-up|whole follow-up|pooled follow-up|short-term|analysis|"
    r"after psm)\b",
    re.IGNORECASE,
)
# Descriptors of the treatment schedule (doses, harvests): no outcome time at all.
SCHEDULE = re.compile(r"^(single|each of|weekly|harvest)\b", re.IGNORECASE)
UNIT = r"(day|week|month|year)s?"
NUMBER = r"(\d+(?:\.\d+)?)"
# a hyphen, an en dash or the word "to": one of them, not any run of the characters -, –, t and o
RANGE_SEPARATOR = r"(?:-|–|to)"


@dataclass(frozen=True)
class Timepoint:
    text: str
    kind: str  # point | range | not_stated | schedule
    days: float | None  # the point, or the end of a range (the last time observed)
    start_days: float | None = None
    qualifier: str = ""  # text in parentheses, e.g. "change from baseline"


class TimepointError(ValueError):
    pass


MAX_DAYS = 100 * 365.25  # no trial follows patients for a century: a larger number is a typo


def parse_timepoint(text: str) -> Timepoint:
    """Parse a printed timepoint; raise TimepointError if it cannot be read or is impossible."""
    parsed = _parse(text)
    for days in (parsed.days, parsed.start_days):
        if days is not None and not 0 <= days <= MAX_DAYS:
            raise TimepointError(f"timepoint {quoted(text.strip())} is beyond 100 years")
    if parsed.start_days is not None and parsed.days is not None and parsed.start_days > parsed.days:
        raise TimepointError(f"timepoint range {quoted(text.strip())} ends before it starts")
    return parsed


def _parse(text: str) -> Timepoint:
    raw = text.strip()
    if not raw:
        raise TimepointError("timepoint is empty; write 'not stated' if the source gives none")
    match = re.match(r"^(.*?)\s*\((.*)\)\s*$", raw)
    head, qualifier = (match.group(1).strip(), match.group(2)) if match else (raw, "")
    lower = head.casefold()
    if lower.startswith("baseline"):
        return Timepoint(raw, "point", 0.0, None, qualifier or head[len("baseline"):].strip())
    if SCHEDULE.match(lower):
        return Timepoint(raw, "schedule", None, None, qualifier)
    if NOT_STATED.match(lower):
        return Timepoint(raw, "not_stated", None, None, qualifier)
    # "weeks 0-24", "weeks 0 – 24", "weeks 0 to 24", "months 2-3", "first 90 days"
    span = re.match(rf"^{UNIT}\s+{NUMBER}\s*{RANGE_SEPARATOR}\s*{NUMBER}(?:\s+.*)?$", lower)
    if span:
        per = DAYS_PER_UNIT[span.group(1)]
        return Timepoint(raw, "range", float(span.group(3)) * per, float(span.group(2)) * per, qualifier)
    first = re.match(rf"^first\s+{NUMBER}\s+{UNIT}$", lower)
    if first:
        return Timepoint(raw, "range", float(first.group(1)) * DAYS_PER_UNIT[first.group(2)], 0.0, qualifier)
    # "week 4", "to week 96", "by month 6", "month 6 biopsy", "3 months"
    point = re.match(rf"^(?:to |by |at )?{UNIT}\s+{NUMBER}(?:\s+\w+)?$", lower)
    if point:
        return Timepoint(raw, "point", float(point.group(2)) * DAYS_PER_UNIT[point.group(1)], None, qualifier)
    reverse = re.match(rf"^{NUMBER}\s+{UNIT}$", lower)
    if reverse:
        return Timepoint(raw, "point", float(reverse.group(1)) * DAYS_PER_UNIT[reverse.group(2)], None, qualifier)
    raise TimepointError(
        f"timepoint {quoted(raw)} is not readable: write e.g. 'baseline', 'week 4', 'month 3', 'weeks 0-24' "
        "or 'not stated' (details in parentheses are kept)"
    )
