"""measurements.csv: rules across rows (duplicates, the order of quantiles and CI bounds, an estimate within its CI,
row ids told apart, one spelling of a timepoint per pair of numbers).

Rows are compared within their cell (arm, timepoint as printed, registry outcome; ``consistency.cell_key``)
and, where both rows are in units of the outcome, in its canonical unit: a CI whose bounds are printed
in different units can be in order as printed and inverted once converted.
"""

from __future__ import annotations

import pandas as pd

from livertrials.io.numbers import parse_number
from livertrials.io.tables import row_dicts
from livertrials.io.text import quoted, shorten, with_article
from livertrials.io.timepoints import TimepointError, parse_timepoint
from livertrials.validate.consistency import cell_key
from livertrials.validate.issues import Issue

ORDERS = [("q1", "median"), ("median", "q3"), ("q1", "q3"), ("min", "max"), ("min", "median"), ("median", "max"),
          ("ci95_lower", "ci95_upper")]
# the number a printed 95% CI belongs to, first match in this order (as harmonization pairs them)
ESTIMATES = ["mean_difference", "weighted_mean_difference", "odds_ratio", "risk_ratio", "hazard_ratio",
             "standardized_mean_difference", "effect_printed_as_or", "mean", "mean_change", "proportion", "median"]
RATIOS = {"odds_ratio", "risk_ratio", "hazard_ratio"}
# statistics that pair with a spread in another row: split by a timepoint spelling, the pair is lost
LOCATIONS = {"mean", "mean_change", "median"}
SPREADS = {"sd", "se", "q1", "q3", "min", "max", "ci95_lower", "ci95_upper"}


class Cells:
    """The first row of each statistic in each cell, with its value as printed and in the canonical unit."""

    def __init__(self, frame: pd.DataFrame, rules):
        self.rules = rules
        self.cells: dict[tuple, dict[str, tuple[int, dict]]] = {}
        for index, row in zip(frame.index, row_dicts(frame)):
            outcome, statistic = rules.outcome(row), rules.statistic(row)
            key = cell_key(row, outcome) if outcome else (row["arm"], row["timepoint"], row["outcome"])
            self.cells.setdefault(key, {}).setdefault(getattr(statistic, "id", None), (index, row))

    def values(self, low: dict, high: dict) -> tuple[float | None, float | None, bool]:
        """(low, high, converted?): canonical values when both rows convert, else the numbers as printed."""
        canonical = self.rules.canonical(low), self.rules.canonical(high)
        if None not in canonical:
            return canonical[0], canonical[1], True
        return parse_number(low["value"]), parse_number(high["value"]), False

    def shown(self, row: dict, value: float, converted: bool) -> str:
        text = shorten(row["value"])
        if not converted or parse_number(row["value"]) == value:
            return text
        return f"{text} {row['unit'] or row.get('unit_presumed', '')} = {value:g} {self.rules.outcome(row).canonical_unit}"


def cross_row_issues(frame: pd.DataFrame, rules, study_id: str, file: str) -> list[Issue]:
    """Every rule across rows of one study's measurements (the required columns are present)."""
    issues = _duplicates(frame, study_id, file) + _row_id_lookalikes(frame, study_id, file)
    cells = Cells(frame, rules)
    for by_stat in cells.cells.values():
        inverted = _orders(by_stat, cells, study_id, file)
        issues += inverted
        if not inverted:
            issues += _estimate_in_ci(by_stat, cells, study_id, file)
    issues += _split_pairs(cells, study_id, file)
    return issues


def _duplicates(frame: pd.DataFrame, study_id: str, file: str) -> list[Issue]:
    issues = []
    content = [c for c in frame.columns if c not in {"row_id"}]
    for index in frame.index[frame.duplicated(subset=content, keep="first")]:
        row = frame.loc[index]
        first = frame.index[(frame[content] == row[content]).all(axis=1)][0]
        issues.append(Issue(study_id, file, index + 2, row["row_id"], "", "", "no duplicate rows",
                            f"this row repeats an earlier row exactly (apart from row_id): line {first + 2}, "
                            f"row_id {quoted(frame.loc[first, 'row_id'])}"))
    return issues


def _row_id_lookalikes(frame: pd.DataFrame, study_id: str, file: str) -> list[Issue]:
    """Row ids equal once spaces and case are ignored are two names for one id (exact repeats: "unique row_id")."""
    issues, seen = [], {}
    for index, row_id in zip(frame.index, frame["row_id"]):
        key = "".join(row_id.split()).casefold()
        if not key:
            continue  # an empty row_id is reported by "not empty"
        first = seen.setdefault(key, (index, row_id))
        if first[1] != row_id:
            issues.append(Issue(study_id, file, index + 2, row_id, "row_id", row_id, "distinct row_id",
                                f"row_id {quoted(row_id)} differs from {quoted(first[1])} (line {first[0] + 2}) only in spaces or "
                                "upper/lower case: give the rows ids that differ in letters or digits"))
    return issues


def _orders(by_stat: dict, cells: Cells, study_id: str, file: str) -> list[Issue]:
    issues = []
    for low, high in ORDERS:
        if low in by_stat and high in by_stat:
            (index, low_row), (_, high_row) = by_stat[low], by_stat[high]
            low_value, high_value, converted = cells.values(low_row, high_row)
            if low_value is None or high_value is None or low_value <= high_value:
                continue
            printed = parse_number(low_row["value"]), parse_number(high_row["value"])
            if converted and None not in printed and printed[0] <= printed[1]:
                message = (f"{low} ({cells.shown(low_row, low_value, True)}) is larger than {high} "
                           f"({cells.shown(high_row, high_value, True)}, row_id {shorten(high_row['row_id'])}) once both are "
                           "converted to one unit: check the values and their units")
            else:
                message = (f"{low} ({shorten(low_row['value'])}) is larger than {high} ({shorten(high_row['value'])}, "
                           f"row_id {shorten(high_row['row_id'])})")
            issues.append(Issue(study_id, file, index + 2, low_row["row_id"], "value", low_row["value"], f"{low} <= {high}", message))
    return issues


def _estimate_in_ci(by_stat: dict, cells: Cells, study_id: str, file: str) -> list[Issue]:
    """The number a 95% CI is printed for lies within it; a ratio's CI bounds are above 0."""
    if "ci95_lower" not in by_stat or "ci95_upper" not in by_stat:
        return []
    estimate = next((s for s in ESTIMATES if s in by_stat), None)
    (low_index, low_row), (high_index, high_row) = by_stat["ci95_lower"], by_stat["ci95_upper"]
    issues = []
    if estimate in RATIOS:
        for index, row in ((low_index, low_row), (high_index, high_row)):
            value = parse_number(row["value"])
            if value is not None and value <= 0:
                issues.append(Issue(study_id, file, index + 2, row["row_id"], "value", row["value"], "ratio above 0",
                                    f"a confidence limit of {with_article(estimate.replace('_', ' '))} must be above 0, not {shorten(row['value'])}"
                                    + (": a printed 0 is a small number rounded, but a ratio's CI is used on the log scale, "
                                       "where 0 has no value, so the effect is not pooled from it; use more digits or the "
                                       "counts if the source gives them" if value == 0 else ": check the value"),
                                    "warning" if value == 0 else "error"))
    if estimate is None:
        return issues
    index, row = by_stat[estimate]
    value, low, converted = cells.values(row, low_row)
    _, high, converted_high = cells.values(row, high_row)
    if converted != converted_high:  # one bound converts, the other does not: compare as printed
        value, low, high = (parse_number(r["value"]) for r in (row, low_row, high_row))
    if None in (value, low, high) or low <= value <= high:
        return issues
    issues.append(Issue(study_id, file, index + 2, row["row_id"], "value", row["value"], "estimate within its CI",
                        f"the {estimate.replace('_', ' ')} ({shorten(row['value'])}) lies outside its own 95% CI "
                        f"({shorten(low_row['value'])} to {shorten(high_row['value'])}, lines {low_index + 2} and {high_index + 2}): "
                        "check the three numbers and their units"))
    return issues


def _timepoint(text: str):
    try:
        parsed = parse_timepoint(text)
    except TimepointError:
        return None  # reported by "readable timepoint"
    if parsed.kind not in {"point", "range"}:
        return None  # "not stated" phrases are not one time spelled two ways
    return parsed.kind, parsed.days, parsed.start_days, parsed.qualifier.strip().casefold()


def _split_pairs(cells: Cells, study_id: str, file: str) -> list[Issue]:
    """A location (mean, median) and its spread (SD, IQR, CI) at one time spelled two ways become two records."""
    issues, by_time = [], {}
    for (arm, timepoint, outcome), by_stat in cells.cells.items():
        parsed = _timepoint(timepoint)
        if parsed is not None:
            by_time.setdefault((arm, outcome, parsed), []).append((timepoint, by_stat))
    for spellings in by_time.values():
        located = [(t, s) for t, s in spellings if LOCATIONS & set(s) and not SPREADS & set(s)]
        spread = [(t, s) for t, s in spellings if SPREADS & set(s) and not LOCATIONS & set(s)]
        for (location_time, location_stats), (spread_time, spread_stats) in ((a, b) for a in located for b in spread):
            stat = next(s for s in spread_stats if s in SPREADS)
            index, row = spread_stats[stat]
            location = next(s for s in location_stats if s in LOCATIONS)
            issues.append(Issue(study_id, file, index + 2, row["row_id"], "timepoint", spread_time, "one spelling per timepoint",
                                f"this {stat} is at {quoted(spread_time)} but its {location} (line {location_stats[location][0] + 2}) "
                                f"is at {quoted(location_time)}: the same time spelled differently splits the pair into two records "
                                "and no effect can be computed; spell the timepoint the same way", "warning"))
    return issues
