"""Effect-size arithmetic: arms merged into the two sides of a comparison (the one home of combining the arms of
a multi-arm trial that fall on one side, and of the note saying so), escalc effect sizes of pairs of sides, and a
study's own effect and 95% CI as yi and vi. All formulas are those of ``synthesis.meta``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from livertrials import distributions
from livertrials.harmonize import statconv
from livertrials.synthesis import meta
from livertrials.synthesis.measures import RATIO_MEASURES, REPORTED_MEASURE
from livertrials.synthesis.rows import finite, text
from livertrials.synthesis.settings import Settings

# Two or more arms of one trial on one side of a comparison become one group (Cochrane Handbook 23.3.4, the formula
# of Table 6.5.a: N = N1 + N2, mean = (N1 M1 + N2 M2) / N, SD from both groups' SDs and means; events and totals
# added), so the trial enters the comparison once and a shared control is never counted twice.
COMBINED = "combined into one group (Cochrane Handbook 23.3.4)"


@dataclass
class Side:
    """One side of a comparison: its arms merged (Cochrane Handbook 23.3.4 / events and totals added)."""

    arms: list[str]
    records: list[dict]
    n: float = math.nan
    mean: float = math.nan
    sd: float = math.nan
    events: float = math.nan
    total: float = math.nan


def continuous_side(records: list[dict]) -> Side | str:
    """The arms with n, mean and SD > 0 combined, or why there are none."""
    usable = [r for r in records
              if finite(r["n"]) and r["n"] > 0 and finite(r["mean"]) and finite(r["sd"]) and r["sd"] > 0]
    if not usable:
        return "no n, mean and SD > 0 in " + ", ".join(sorted(r["arm_id"] for r in records))
    merged = statconv.combine_groups([r["n"] for r in usable], [r["mean"] for r in usable], [r["sd"] for r in usable])
    return Side([r["arm_id"] for r in usable], usable, merged.n, merged.mean, merged.sd)


def _events_side(records: list[dict]) -> Side | str:
    def total(r):
        return r["total"] if finite(r["total"]) else r["n"]
    usable = [r for r in records if finite(r["events"]) and finite(total(r)) and total(r) > 0]
    if not usable:
        return "no events and denominator in " + ", ".join(sorted(r["arm_id"] for r in records))
    events, totals = statconv.combine_events([r["events"] for r in usable], [total(r) for r in usable])
    return Side([r["arm_id"] for r in usable], usable, n=totals, events=events, total=totals)


def merge_note(side: Side, side_records: list[dict]) -> str:
    """What the row says about a side of several arms: which were combined, and which had no usable data."""
    missing = sorted({r["arm_id"] for r in side_records} - set(side.arms))
    parts = []
    if len(side.arms) > 1:
        parts.append(f"{' + '.join(side.arms)} {COMBINED}")
    if missing:
        parts.append(f"{', '.join(missing)} without usable data")
    return "; ".join(parts)


def side_summary(kind: str, records: list[dict]) -> Side | str:
    """The records of one side merged: means and SDs (continuous) or events and totals."""
    return continuous_side(records) if kind == "continuous" else _events_side(records)


def effect_sizes(kind: str, pairs: list[tuple[Side, Side]], settings: Settings) -> list[list[tuple[str, float, float, str]]]:
    """[(measure, yi, vi, note)] for each pair of sides, with metafor's escalc formulas (one call per measure
    for all pairs: elementwise, so each pair gets the numbers a call of its own would give)."""
    def column(side: int, name: str) -> np.ndarray:
        return np.array([getattr(pair[side], name) for pair in pairs], dtype=float)

    if kind == "continuous":
        groups = [column(side, name) for side in (0, 1) for name in ("mean", "sd", "n")]
        by_measure = [(measure, *(meta.md if measure == "MD" else meta.smd)(*groups))
                      for measure in settings.continuous_measures]
        return [[(measure, float(yi[i]), float(vi[i]), "") for measure, yi, vi in by_measure] for i in range(len(pairs))]
    fns = {"RR": meta.rr, "OR": meta.or_, "RD": meta.rd}
    counts = (column(0, "events"), column(0, "total"), column(1, "events"), column(1, "total"))
    by_measure = [(measure, *fns[measure](*counts, add=settings.continuity_add, to=settings.continuity_to,
                                          drop00=settings.continuity_drop00))
                  for measure in settings.event_measures]
    out = []
    for i, (s1, s2) in enumerate(pairs):
        cells = (s1.events, s1.total - s1.events, s2.events, s2.total - s2.events)
        corrected = settings.continuity_to == "all" or (settings.continuity_to == "only0" and min(cells) == 0)
        note = f"{settings.continuity_add:g} added to every cell (to={settings.continuity_to})" if corrected else ""
        out.append([(measure, float(yi[i]), float(vi[i]), note) for measure, yi, vi in by_measure
                    if math.isfinite(yi[i]) and math.isfinite(vi[i])])   # drop00=True leaves NaN for double-zero tables
    return out


def within_arm_change(before: Side, after: Side, corr: float) -> tuple[float, float]:
    """metafor escalc measure "MC": yi = m_after - m_before, vi = SD_change^2 / n, the SD of change
    imputed with the pre-post correlation (Cochrane Handbook 6.5.2.8)."""
    return after.mean - before.mean, statconv.sd_change(before.sd, after.sd, corr) ** 2 / after.n


def reported_effect(record: dict) -> tuple[str, float, float] | str:
    """(measure, yi, vi) from an effect printed with its 95% CI (log scale for ratios), or why not."""
    measure = REPORTED_MEASURE.get(text(record["effect_measure"]))
    est, lo, hi = record["estimate"], record["ci_lower"], record["ci_upper"]
    if measure is None or not all(finite(x) for x in (est, lo, hi)):
        return "reported effect without an estimate and 95% CI"
    try:
        if measure in RATIO_MEASURES:
            yi, vi = meta.loghr_from_ci(est, lo, hi, level=0.95)   # same formula for any ratio
            return measure, float(yi[0]), float(vi[0])
        if not lo <= est <= hi or lo == hi:
            raise ValueError("need lower <= estimate <= upper")
    except ValueError as error:
        return f"reported effect not usable: {error}"
    se = (hi - lo) / (2 * distributions.norm_isf(0.025))   # averages the two halves if the CI is asymmetric
    return measure, float(est), float(se**2)
