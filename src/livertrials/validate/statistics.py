"""measurements.csv: does a row's statistic fit its outcome, its arm or contrast, and its value?

- the outcome's kind (registry): a count of albumin or a mean of deaths is an error;
- arm or contrast: a mean belongs to an arm, a mean difference or a ratio to a contrast;
- the value: a count is whole and within the arm size, a ratio is above 0, an SD of 0 is dropped
  from pooling (warning), a row flagged not_printed has no value;
- the characters: a timepoint's digits are ASCII (``parse_timepoint`` would read '٢٤' as 24).
"""

from __future__ import annotations

import pandas as pd

from livertrials.io.numbers import parse_number
from livertrials.io.tables import row_dicts
from livertrials.io.text import character_hint, foreign_digits, quoted, with_article
from livertrials.validate.issues import Issue
from livertrials.validate.meta import group_ids, groups

# statistics that describe one group of patients, and those that compare two groups
ARM_LEVEL = {"mean", "sd", "se", "median", "q1", "q3", "min", "max", "count", "proportion", "mean_change", "mean_relative_change",
             "mean_relative_change_range_low", "mean_relative_change_range_high", "median_relative_change",
             "relative_reduction_from_baseline", "value", "approx", "pooled_level", "central_value"}
CONTRAST_LEVEL = {"mean_difference", "weighted_mean_difference", "odds_ratio", "risk_ratio", "hazard_ratio",
                  "standardized_mean_difference", "effect_printed_as_or"}
RATIOS = {"odds_ratio", "risk_ratio", "hazard_ratio"}
# by the registry's outcome kind: the statistics an events outcome may carry, and those other kinds may not
EVENTS_STATISTICS = {"count", "proportion", "p_value", "t_statistic", "ci95_lower", "ci95_upper", "i2"} | RATIOS
NOT_FOR_KIND = {"continuous": {"count", "proportion"} | RATIOS, "duration": {"count", "proportion"} | RATIOS,
                "descriptive": RATIOS}
PATIENTS = "patients"  # the canonical unit of outcomes that count patients


def _fits_kind(kind: str, statistic: str) -> bool:
    if kind == "events":
        return statistic in EVENTS_STATISTICS
    return statistic not in NOT_FOR_KIND.get(kind, set())


def _kind_message(outcome, statistic) -> str:
    if outcome.kind == "events":
        return (f"{outcome.id} is an events outcome (patients with the event): {with_article(statistic.label)} does not fit; give the "
                "number of patients as statistic count or their percentage as proportion (a ratio on a contrast)")
    if statistic.id in RATIOS:
        return (f"{outcome.id} is {with_article(outcome.kind)} outcome: {with_article(statistic.label)} does not fit; if the source prints one for "
                "it, use statistic effect_printed_as_or (kept as printed, never read as a ratio)")
    return (f"{outcome.id} is {with_article(outcome.kind)} outcome: {with_article(statistic.label)} does not fit; if the source counts patients "
            "above or below a threshold, that is an events outcome of its own (add it to resources/registry/outcomes.yaml)")


def _csv_sizes(frame: pd.DataFrame, registry) -> dict[str, float]:
    """The largest arm size measurements.csv itself prints per arm (outcome n), for arms study.yaml gives none."""
    sizes = {}
    for row in row_dicts(frame):
        outcome, statistic = registry.outcome(row["outcome"]), registry.statistic(row["statistic"])
        number = parse_number(row["value"])
        if outcome and statistic and outcome.id == "n" and statistic.id == "count" and number is not None:
            sizes[row["arm"]] = max(sizes.get(row["arm"], 0), number)
    return sizes


def statistic_issues(frame: pd.DataFrame, meta: dict, rules, study_id: str, file: str) -> list[Issue]:
    """Every rule above, one Issue per failing row (rows whose outcome or statistic is unknown are skipped)."""
    contrasts = set(group_ids(meta, "contrasts"))
    arms = set(group_ids(meta, "arms"))
    largest = {a["id"]: max((s for s in (a.get("n_randomized"), a.get("n_analysed"))
                             if isinstance(s, int) and not isinstance(s, bool)), default=None)
               for a in groups(meta, "arms") if isinstance(a.get("id"), str)}
    csv_sizes = _csv_sizes(frame, rules.registry)
    issues = []
    for index, row in zip(frame.index, row_dicts(frame)):
        def issue(column, rule, message, severity="error", index=index, row=row, issues=issues):
            issues.append(Issue(study_id, file, index + 2, row["row_id"], column, row.get(column, ""), rule, message, severity))

        digits = foreign_digits(row["timepoint"])
        if digits:
            issue("timepoint", "ASCII digits", f"the timepoint has digits of another script: {character_hint(row['timepoint'])}")
        outcome, statistic = rules.outcome(row), rules.statistic(row)
        if outcome is None or statistic is None:
            continue  # reported by "known outcome" / "known statistic"
        number = parse_number(row["value"])
        flags = {f.strip() for f in row.get("flags", "").split(";")}
        if "not_printed" in flags and row["value"].strip():
            issue("flags", "not_printed has no value",
                  f"the row is flagged not_printed but has the value {quoted(row['value'])}: remove the flag if the source "
                  "printed the number, or empty the value if it did not")
        if not _fits_kind(outcome.kind, statistic.id):
            issue("statistic", "statistic fits outcome kind", _kind_message(outcome, statistic))
        elif row["arm"] in contrasts and statistic.id in ARM_LEVEL:
            issue("statistic", "statistic fits arm or contrast",
                  f"{quoted(row['arm'])} is a contrast but {with_article(statistic.label)} describes one arm: put the row on the arm it "
                  "describes, or use the statistic of a difference between arms (e.g. mean_difference)")
        elif row["arm"] in arms and statistic.id in CONTRAST_LEVEL:
            issue("statistic", "statistic fits arm or contrast",
                  f"{with_article(statistic.label)} compares two arms but {quoted(row['arm'])} is one arm: put the row on a contrast "
                  "(defined under contrasts in study.yaml)")
        if number is None:
            continue  # not a number: reported by "number as printed"
        if statistic.id == "count" and number != int(number):
            issue("value", "whole count", f"a count of patients is a whole number, not {quoted(row['value'])}: if the source "
                                          "printed a percentage, use statistic proportion with unit %")
        if statistic.id in RATIOS and number <= 0:
            issue("value", "ratio above 0", f"{with_article(statistic.label)} is above 0, not {quoted(row['value'])}: check the value "
                                            "(a ratio of 0 or below cannot be pooled on the log scale)")
        if statistic.id in {"sd", "se"} and number == 0:
            issue("value", "SD above 0", f"{with_article(statistic.label)} of 0 means every patient had the same value: the row will be "
                                         "dropped from pooling; check the value against the source", "warning")
        issues += _size_issue(row, index, outcome, statistic, number, largest, csv_sizes, study_id, file)
    return issues


def _size_issue(row, index, outcome, statistic, number, largest, csv_sizes, study_id, file) -> list[Issue]:
    """A count of patients above the arm's size: study.yaml's largest size, else the n measurements.csv prints.

    An events count with a size in study.yaml is checked by the row rule "count within arm size" (validate.rows)."""
    if statistic.id != "count" or outcome.canonical_unit != PATIENTS or outcome.id == "n" or number < 0:
        return []
    size, where = largest.get(row["arm"]), "study.yaml"
    if outcome.kind == "events" and size is not None:
        return []
    if size is None:
        size, where = csv_sizes.get(row["arm"]), "measurements.csv (outcome n)"
    if size is None or number <= size:
        return []
    return [Issue(study_id, file, index + 2, row["row_id"], "value", row["value"], "count within arm size",
                  f"count is larger than the arm size ({size:g}) in {where}: check the count, the arm and the arm's size")]
