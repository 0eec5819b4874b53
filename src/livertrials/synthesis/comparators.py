"""Comparators: published meta-analyses' pooled values, shown as printed (never recomputed, never pooled)
beside our own main-analysis estimate for the same comparison, outcome, window and measure (the comparison
whose sides the published contrast's arms fall on, as printed)."""

from __future__ import annotations

import math

import pandas as pd

from livertrials.synthesis.matching import contrast_side
from livertrials.synthesis.measures import RATIO_MEASURES, REPORTED_MEASURE
from livertrials.synthesis.rows import records, stable_id, text
from livertrials.synthesis.schemas import COMPARATORS
from livertrials.synthesis.settings import Settings
from livertrials.synthesis.windows import assign_window

PUBLISHED = "published, not recomputed"


def _comparison_of(rec: dict, arms: dict, settings: Settings) -> str | None:
    """The first declared comparison whose experimental side has the contrast's first arms and whose control side
    has the others (as printed: a published estimate is never turned round)."""
    sides = [[arms.get((rec["study_id"], a), {"arm_id": a}) for a in rec[f"contrast_arms_{n}"]] for n in (1, 2)]
    return next((c.id for c in settings.comparisons if contrast_side(c, *sides) == "as printed"), None)


def comparators_table(harmonized: pd.DataFrame, characteristics: pd.DataFrame, pooled: pd.DataFrame,
                      settings: Settings) -> pd.DataFrame:
    """One row per published effect, with our estimate (default method and test) where there is one."""
    published = harmonized[(harmonized["collection"] == "comparators") & harmonized["is_contrast"].astype(bool)]
    arms = {(a["study_id"], a["arm_id"]): a for a in records(characteristics)}
    ours = pooled[(pooled["analysis"] == "main") & (pooled["design"] == "between_arms")
                  & (pooled["method"] == settings.default_method)
                  & ((pooled["test"] == settings.default_test) | (pooled["k"] == 1))]
    out = []
    for rec in records(published):
        window, assignment = assign_window(rec["study_id"], rec["timepoint_text"], rec["timepoint_kind"],
                                           rec["timepoint_days"], settings)
        measure = REPORTED_MEASURE.get(text(rec["effect_measure"]))
        comparison = _comparison_of(rec, arms, settings)
        row = {"comparator_id": stable_id("comparator", rec["record_id"]),
               "source": PUBLISHED, "study_id": rec["study_id"], "record_id": rec["record_id"], "outcome": rec["outcome"],
               "outcome_label": rec["outcome_label"], "comparison": comparison, "timepoint_text": rec["timepoint_text"],
               "timepoint_days": rec["timepoint_days"], "window": window, "assignment": assignment,
               "published_measure": rec["effect_measure"], "published_estimate": rec["estimate"],
               "published_ci_lower": rec["ci_lower"], "published_ci_upper": rec["ci_upper"],
               "published_p_value": rec["p_value"], "published_n": rec["n"], "unit": rec["unit"],
               "flags": list(rec["flags"]), "our_measure": measure, "our_method": settings.default_method,
               "our_test": settings.default_test, "our_k": 0}
        match = ours[(ours["comparison"] == comparison) & (ours["outcome"] == rec["outcome"]) & (ours["window"] == window)
                     & (ours["measure"] == measure)]
        row.update(_our_estimate(match.sort_values("k", ascending=False), measure, window, comparison))
        out.append(row)
    return pd.DataFrame(out, columns=COMPARATORS.names)


def _our_estimate(match: pd.DataFrame, measure: str | None, window: str | None, comparison: str | None) -> dict:
    if measure is None or window is None or comparison is None:
        why = ("no effect measure published" if measure is None else "timepoint in no window" if window is None
               else "its arms fall on the sides of no declared comparison")
        return {"our_note": f"no estimate: {why}"}
    if match.empty:
        return {"our_note": f"no estimate: no study effect in {comparison} at this outcome, window and measure"}
    best = match.iloc[0]
    back = math.exp if measure in RATIO_MEASURES else (lambda x: x)
    out = {"our_k": int(best["k"]), "our_study_ids": list(best["study_ids"]), "our_test": best["test"],
           "our_pooled_id": best["pooled_id"]}
    others = f"; {len(match) - 1} other pool(s) (other basis or MELD variant) not shown" if len(match) > 1 else ""
    if not best["pooled"]:
        return {**out, "our_note": f"k=1 ({best['study_ids'][0]}): not pooled{others}"}
    return {**out, "our_estimate": back(best["estimate"]), "our_ci_lb": back(best["ci_lb"]), "our_ci_ub": back(best["ci_ub"]),
            "our_I2": best["I2"], "our_note": f"main analysis, basis {best['basis']}{others}"}
