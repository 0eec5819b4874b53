"""measurements.csv: the pandera schema of one study's rows, the row rules, and the rules across rows.

The schema is built per study, from its arms (study.yaml) and the registry (outcomes, units,
statistics, plausible ranges; the rules are listed in validate.measurement_schema). Each failure
becomes an Issue naming the line, row_id, column and value, with a message a reviewer can act on.
"""

from __future__ import annotations

import difflib
import math

import pandas as pd
from pandera.errors import SchemaErrors

from livertrials.io.extraction import MEASUREMENT_COLUMNS, REQUIRED_COLUMNS, StudyFolder
from livertrials.io.measures import RATIO_MEASURES
from livertrials.io.numbers import explain_number, p_value_number, parse_number
from livertrials.io.registry import Registry
from livertrials.io.text import character_hint, quoted, shorten
from livertrials.io.timepoints import TimepointError, parse_timepoint
from livertrials.validate.consistency import consistency_warnings
from livertrials.validate.cross_rows import cross_row_issues
from livertrials.validate.issues import Issue
from livertrials.validate.measurement_schema import (
    KNOWN_FLAGS,
    MeasurementRules,
    measurement_rules,
    measurement_schema,
    passes_quickly,
)
from livertrials.validate.meta import group_ids, groups
from livertrials.validate.statistics import statistic_issues

TEXT_STATISTICS = {"p_value"}
LOCATION_STATISTICS = {"mean", "median", "q1", "q3", "min", "max", "value", "approx", "pooled_level", "central_value"}


def arm_sizes(meta: dict) -> dict[str, int | None]:
    def whole(value):  # a size that is not a whole number >= 0 is a schema error; no check uses it
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

    sizes = {}
    for arm in groups(meta, "arms"):
        if isinstance(arm.get("id"), str):
            sizes[arm["id"]] = whole(arm.get("n_analysed") or arm.get("n_randomized"))
    for contrast in groups(meta, "contrasts"):
        if isinstance(contrast.get("id"), str):
            sizes[contrast["id"]] = whole(contrast.get("n_total"))
    return sizes


class RowRules:
    """Element and row rules for one study; each returns True where the row is fine."""

    def __init__(self, registry: Registry, meta: dict):
        self.registry = registry
        self.sizes = arm_sizes(meta)

    def outcome(self, row) -> object:
        return self.registry.outcome(row["outcome"])

    def statistic(self, row) -> object:
        return self.registry.statistic(row["statistic"])

    def row_unit(self, row) -> tuple[str | None, bool]:
        """(registry unit of the row, presumed?) using unit_presumed only when no unit was printed."""
        printed = row["unit"].strip()
        if printed:
            return self.registry.unit(printed), False
        presumed = row.get("unit_presumed", "").strip()
        return (self.registry.unit(presumed), True) if presumed else ("", False)

    def unit_ok(self, row) -> bool:
        outcome, statistic = self.outcome(row), self.statistic(row)
        if outcome is None or statistic is None:
            return True  # reported by their own rules
        unit, _ = self.row_unit(row)
        if unit is None:
            return False
        expected = statistic.unit
        if expected == "outcome":
            if outcome.kind == "events" and statistic.id != "count" and unit == "%":
                return True
            return unit in outcome.units
        if expected == "percent":
            return unit == "%"
        if expected == "none":
            return unit == ""
        if expected == "ratio":
            return unit == "" or unit in statistic.ratio_units
        return unit == "" or unit in outcome.units or unit == "%" or unit in RATIO_MEASURES

    def value_ok(self, row) -> bool:
        statistic = self.statistic(row)
        value = row["value"]
        if "not_printed" in row.get("flags", "") and value.strip() == "":
            return True
        if statistic is not None and statistic.id in TEXT_STATISTICS:
            number = p_value_number(value)
            return number is not None and 0 <= number <= 1
        return parse_number(value) is not None

    def canonical(self, row) -> float | None:
        """The row's value in the outcome's canonical unit, if it is a number in a convertible unit."""
        outcome = self.outcome(row)
        number = parse_number(row["value"])
        unit, _ = self.row_unit(row)
        if outcome is None or number is None or not unit or unit not in outcome.units:
            return None
        factor = outcome.units[unit]
        return None if factor is None else number * factor

    def plausible(self, row) -> bool:
        outcome, statistic = self.outcome(row), self.statistic(row)
        if outcome is None or statistic is None or outcome.plausible is None:
            return True
        if statistic.id not in LOCATION_STATISTICS:
            return True
        value = self.canonical(row)
        low, high = outcome.plausible
        return value is None or low <= value <= high

    def spread_ok(self, row) -> bool:
        statistic = self.statistic(row)
        number = parse_number(row["value"])
        return not (statistic and statistic.id in {"sd", "se"} and number is not None and number < 0)

    def percent_ok(self, row) -> bool:
        statistic = self.statistic(row)
        number = parse_number(row["value"])
        return not (statistic and statistic.id == "proportion" and number is not None and not 0 <= number <= 100)

    def count_ok(self, row) -> bool:
        statistic, outcome = self.statistic(row), self.outcome(row)
        number = parse_number(row["value"])
        size = self.sizes.get(row["arm"])
        if not (statistic and statistic.id == "count" and outcome and outcome.kind == "events"):
            return True
        return number is None or size is None or 0 <= number <= size

    def timepoint_ok(self, value: str) -> bool:
        try:
            parse_timepoint(value)
        except TimepointError:
            return False
        return True


# rule name -> (column the rule speaks about, message for the reviewer)
RULE_MESSAGES = {
    "known arm": ("arm", "arm is not an arm or contrast id in study.yaml"),
    "known outcome": ("outcome", "outcome is not in the registry (resources/registry/outcomes.yaml): check the spelling or add it there"),
    "known statistic": ("statistic", "statistic is not one the format knows (resources/registry/outcomes.yaml, statistics)"),
    "readable timepoint": ("timepoint", "timepoint is not readable: write e.g. 'baseline', 'week 4', 'month 3', 'weeks 0-24' or 'not stated'"),
    "number as printed": ("value", None),
    "unit allowed for outcome": ("unit", None),
    "plausible range": ("value", None),
    "SD and SE are not negative": ("value", "a standard deviation or standard error cannot be negative"),
    "percentage within 0-100": ("value", "a percentage must lie between 0 and 100"),
    "count within arm size": ("value", None),
    "unique row_id": ("row_id", "row_id is used by more than one row"),
    "not empty": (None, "this cell must not be empty"),
    "known flag": ("flags", "flag is not one of " + ", ".join(sorted(KNOWN_FLAGS))),
}


def _describe(rule: str, row: pd.Series, rules: RowRules) -> tuple[str, str]:
    """(column, message) for a failed row rule, in words a reviewer can act on."""
    column, message = RULE_MESSAGES.get(rule, ("", rule))
    if rule == "number as printed":
        statistic = rules.statistic(row)
        if statistic and statistic.id in TEXT_STATISTICS:
            message = "a p value must be a number between 0 and 1, optionally with <, > or = (e.g. <0.05)"
            hint = character_hint(row["value"])
            message += f"; {hint}" if hint else ""
        else:
            message = explain_number(row["value"])
    elif rule == "unit allowed for outcome":
        outcome, statistic = rules.outcome(row), rules.statistic(row)
        unit, presumed = rules.row_unit(row)
        printed = row["unit_presumed"] if presumed else row["unit"]
        if unit is None:
            hint = character_hint(printed)
            message = (f"unit {quoted(printed)} is unknown (accepted for {outcome.id}: {', '.join(outcome.units)})"
                       + (f"; {hint}" if hint else ""))
        elif statistic.unit == "none":
            message = f"a {statistic.label} has no unit; leave unit empty"
        elif statistic.unit == "percent":
            message = f"a {statistic.label} is a percentage: unit must be %"
        elif unit == "":
            message = (f"no unit given for {outcome.id}; if the source printed none, put the unit you presume in "
                       f"unit_presumed (accepted: {', '.join(outcome.units)})")
        else:
            message = f"unit {quoted(printed)} is not allowed for {outcome.id} (accepted: {', '.join(outcome.units)})"
        column = "unit_presumed" if presumed else "unit"
    elif rule == "plausible range":
        outcome = rules.outcome(row)
        low, high = outcome.plausible
        value = rules.canonical(row)
        message = (f"{outcome.label} of {value:g} {outcome.canonical_unit} is outside the plausible range "
                   f"{low:g}-{high:g} {outcome.canonical_unit}: check the value and its unit")
    elif rule == "count within arm size":
        number = parse_number(row["value"])
        if number is not None and number < 0:
            message = "a count cannot be negative"
        else:
            message = f"count is larger than the arm size ({rules.sizes.get(row['arm'])}) in study.yaml"
    return column or "", message


def study_rules(study: StudyFolder, registry: Registry) -> tuple[RowRules, MeasurementRules]:
    """The study's row rules, and the rules of its measurements.csv (validate.measurement_schema)."""
    rules = RowRules(registry, study.meta)
    arm_ids = set(group_ids(study.meta, "arms") + group_ids(study.meta, "contrasts"))
    return rules, measurement_rules(rules, arm_ids, row_rules=all(c in study.measurements.columns for c in REQUIRED_COLUMNS))


def validate_measurements(study: StudyFolder, registry: Registry, quick: bool = True) -> list[Issue]:
    """Errors and warnings of measurements.csv; ``quick=False`` runs the pandera schema even when the quick pass would do."""
    file = str(study.folder / "measurements.csv")
    frame = study.measurements
    rules, spec = study_rules(study, registry)
    issues: list[Issue] = []
    if frame.empty:
        return [Issue(study.study_id, file, None, "", "", "", "at least one measurement", "measurements.csv has a header but no rows")]
    if not (quick and passes_quickly(spec, frame)):  # pandera is the validator of record: it names every failure
        try:
            measurement_schema(spec).validate(frame, lazy=True)
        except SchemaErrors as errors:
            issues.extend(_issues_from_failures(errors.failure_cases, frame, rules, study.study_id, file))
    if all(c in frame.columns for c in REQUIRED_COLUMNS):
        issues.extend(cross_row_issues(frame, rules, study.study_id, file))
        issues.extend(statistic_issues(frame, study.meta, rules, study.study_id, file))
        issues.extend(consistency_warnings(frame, registry, rules.sizes, study.study_id, file))
    return issues


def _issues_from_failures(cases: pd.DataFrame, frame: pd.DataFrame, rules: RowRules, study_id: str, file: str) -> list[Issue]:
    issues = []
    for case in cases.itertuples(index=False):
        check = str(case.check)
        if case.index is None or (isinstance(case.index, float) and math.isnan(case.index)):
            # whole-column problems: missing or extra columns, wrong type
            if check == "column_in_schema":
                name = str(case.failure_case)
                what = (f"column {quoted(name)} is" if name else "a column with no name (a trailing comma in the header?) is")
                issues.append(Issue(study_id, file, 1, "", name, "", "known columns",
                                    f"{what} not part of the format (expected: {', '.join(MEASUREMENT_COLUMNS)})"))
            elif check == "column_in_dataframe":
                issues.append(Issue(study_id, file, 1, "", str(case.failure_case), "", "required columns",
                                    f"required column {case.failure_case!r} is missing"))
            elif check not in {"dataframe_not_empty"}:
                issues.append(Issue(study_id, file, None, "", str(case.column or ""), str(case.failure_case), check, check))
            continue
        index = int(case.index)
        row = frame.loc[index]
        rule = check
        if case.schema_context == "Column":
            column, message = RULE_MESSAGES.get(rule, (case.column, rule))
            column = case.column
            value = str(case.failure_case)
            if rule == "known arm":
                message = (f"arm {quoted(value)} is not an arm or contrast id in study.yaml "
                           f"(known: {shorten(', '.join(rules.sizes), 200) or 'none'})")
                hint = character_hint(value)
                message += f"; {hint}" if hint else ""
            elif rule in {"known outcome", "known statistic"}:
                registry = rules.registry
                names = ([a for o in registry.outcomes.values() for a in (o.id, *o.aliases)] if rule == "known outcome"
                         else list(registry.statistics))
                close = difflib.get_close_matches(value.strip().casefold(), names, n=1)
                if close:
                    message += f"; did you mean {close[0]!r}?"
                elif rule == "known statistic":
                    message += f"; known: {', '.join(names)}"
                hint = character_hint(value)
                message += f"; {hint}" if hint else ""
            elif rule == "unique row_id":
                lines = [str(i + 2) for i in frame.index[frame["row_id"] == value]]
                message = f"row_id {quoted(value)} is used by more than one row (lines {shorten(', '.join(lines), 200)})"
            elif rule == "readable timepoint":
                try:
                    parse_timepoint(value)
                except TimepointError as error:
                    message = str(error)
        else:
            if rule not in RULE_MESSAGES or not _row_has_columns(row):
                continue
            column, message = _describe(rule, row, rules)
            value = str(row.get(column, "")) if column else ""
        issues.append(Issue(study_id, file, index + 2, str(row.get("row_id", "")), str(column or ""), value, rule, message))
    # a row-level rule fails on every row when a column is missing; those repeat the column error
    return list(dict.fromkeys(issues))


def _row_has_columns(row: pd.Series) -> bool:
    return all(c in row.index for c in REQUIRED_COLUMNS)
