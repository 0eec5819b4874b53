"""Do the numbers printed for one cell (study x arm x timepoint x outcome) agree? One home for these checks.

Harmonization (``harmonize.records``) turns them into record flags; validation reports the same
findings as warnings, so ``livertrials validate`` says what the harmonized rows will be flagged with:

- ``conflicting_reports``: two different values for one statistic (the first is used);
- ``inconsistent_percentage``: a count and its percentage that disagree beyond rounding;
- ``mixed_units``: values of one cell in different units (one factor is applied to all);
- ``unit_not_convertible``: a recognised unit without a factor (kept as printed, not pooled with others);
- ``unit_presumed``: reported by ``validate.study.unit_warnings``.
"""

from __future__ import annotations

from livertrials.io.numbers import parse_number
from livertrials.io.registry import Outcome, Registry, Statistic
from livertrials.io.tables import row_dicts
from livertrials.io.text import quoted
from livertrials.validate.issues import Issue

# A printed percentage and count agree if the percentage is the count's, rounded as printed.
PERCENT_TOLERANCE = 1.0


def cell_key(row: dict, outcome: Outcome) -> tuple[str, str, str]:
    """The cell a row belongs to: its arm, its timepoint as printed, and the registry outcome (aliases merged)."""
    return row["arm"], row["timepoint"], outcome.id


def conflicting(kept: str | None, value: str) -> bool:
    """Does ``value`` disagree with the value already kept for the same statistic of the cell?"""
    return kept is not None and kept != value


def percentage_inconsistent(count: float | None, percent: float | None, n: int | None) -> bool:
    """A count and its printed percentage of n that disagree by more than rounding (e.g. 18/30 printed as 53%)."""
    return count is not None and percent is not None and bool(n) and abs(100 * count / n - percent) > PERCENT_TOLERANCE


def outcome_unit(row: dict, outcome: Outcome, statistic: Statistic, registry: Registry) -> tuple[str | None, bool]:
    """(the outcome's own unit the row's value is in, or None; was the unit presumed rather than printed?)"""
    printed, presumed = row["unit"].strip(), False
    if not printed and row.get("unit_presumed", "").strip():
        printed, presumed = row["unit_presumed"].strip(), True
    unit = registry.unit(printed)
    return (unit if unit and statistic.unit == "outcome" and unit in outcome.units else None), presumed


def consistency_warnings(frame, registry: Registry, sizes: dict, study_id: str, file: str) -> list[Issue]:
    """The warnings of the flags above, each on the line that raises it (``frame``: measurements, rows known)."""
    issues, cells = [], {}
    for index, row in zip(frame.index, row_dicts(frame)):
        outcome, statistic = registry.outcome(row["outcome"]), registry.statistic(row["statistic"])
        if outcome is None or statistic is None:
            continue
        cell = cells.setdefault(cell_key(row, outcome), {"texts": {}, "units": {}, "values": {}, "kind": outcome.kind})
        line = index + 2

        def warn(column, rule, message, line=line, row=row):  # bound now: called within this iteration
            issues.append(Issue(study_id, file, line, row["row_id"], column, row.get(column, ""), rule, message, "warning"))

        kept = cell["texts"].get(statistic.id)
        if conflicting(kept and kept[0], row["value"]):
            warn("value", "conflicting values",
                 f"this {statistic.label} ({quoted(row['value'])}) differs from the one on line {kept[1]} ({quoted(kept[0])}) for the "
                 "same arm, timepoint and outcome: the first is used and the record is flagged conflicting_reports; keep the "
                 "right one, or tell the rows apart (arm, timepoint)")
        elif kept is None:
            cell["texts"][statistic.id] = (row["value"], line)
            cell["values"][statistic.id] = (parse_number(row["value"]), line)
        unit, _ = outcome_unit(row, outcome, statistic, registry)
        if unit is not None:
            column = "unit" if row["unit"].strip() else "unit_presumed"
            if cell["units"] and unit not in cell["units"]:
                first, first_line = next(iter(cell["units"].items()))
                warn(column, "one unit per cell",
                     f"this {statistic.label} is in {unit} but line {first_line} of the same arm, timepoint and outcome is in "
                     f"{first}: one factor is applied to all of them (flag mixed_units); write them in one unit")
            if outcome.units.get(unit, 1) is None and unit not in cell["units"]:
                warn(column, "unit not convertible",
                     f"{unit!r} has no conversion to {outcome.canonical_unit}: the values are kept as printed and flagged "
                     "unit_not_convertible" + ("" if outcome.kind == "descriptive" else
                                               f", so they are not pooled with studies reporting in {outcome.canonical_unit}"))
            cell["units"].setdefault(unit, line)
    issues += _percentage_warnings(cells, frame, sizes, study_id, file)
    return issues


def _percentage_warnings(cells: dict, frame, sizes: dict, study_id: str, file: str) -> list[Issue]:
    issues = []
    for (arm, _, _), cell in cells.items():
        if cell["kind"] != "events":
            continue  # as harmonization: only an events outcome's count and percentage are compared
        (count, _), (percent, line) = cell["values"].get("count", (None, 0)), cell["values"].get("proportion", (None, 0))
        n = sizes.get(arm)
        if percentage_inconsistent(count, percent, n):
            row = frame.loc[line - 2]
            issues.append(Issue(study_id, file, line, row["row_id"], "value", row["value"], "percentage matches count",
                                f"{percent:g}% does not match the count {count:g} of {n} patients ({100 * count / n:.1f}%): "
                                "both are kept as printed and the record is flagged inconsistent_percentage; check both "
                                "against the source", "warning"))
    return issues
