"""What a forest plot shows, in data and in words (no drawing, no choosing of forests here).

A ForestSpec holds one figure's blocks of study rows with their pooled rows; forest_plans decides which forests
there are and builds their specs from ``results/synthesis/pooled.parquet`` and ``comparisons.parquet`` (nothing is
recomputed). The words for the two sides ("Favours ...", column heads) are the comparison's side labels, stored with
the synthesis settings. ``manifest_entry`` describes a drawn forest for the report (``index.json``), with the same
texts as the figure. Annotations have 2 decimals.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from livertrials.synthesis.measures import RATIO_MEASURES as RATIO
from livertrials.synthesis.settings import SETTINGS_KEY

MEASURE_NAMES = {"MD": "Mean difference", "SMD": "Standardised mean difference (Hedges' g)",
                 "MC": "Mean change from baseline", "RR": "Risk ratio", "OR": "Odds ratio",
                 "RD": "Risk difference", "HR": "Hazard ratio"}
METHOD_NAMES = {"EE": "common effect", "DL": "DerSimonian-Laird", "HE": "Hedges", "HS": "Hunter-Schmidt",
                "HSk": "Hunter-Schmidt (k-corrected)", "SJ": "Sidik-Jonkman", "ML": "ML", "REML": "REML",
                "EB": "empirical Bayes", "PM": "Paule-Mandel", "PMM": "median-unbiased Paule-Mandel"}
TEST_NAMES = {"z": "z", "knha": "Hartung-Knapp"}
IDENTITY = ["comparison", "design", "basis", "outcome", "window", "measure", "meld_variant", "pre_post_correlation"]


@dataclass
class StudyLine:
    """One study row: its effect as stored (log scale for ratios) and the columns on its left."""

    study_id: str
    comparison_id: str
    timepoint: str
    side_1: tuple[str, str]      # ("mean (SD)" or "events", "N")
    side_2: tuple[str, str]
    yi: float
    ci_lb: float
    ci_ub: float
    weight: float | None         # percent; None when nothing was pooled (k = 1)
    se: float = math.nan


@dataclass(frozen=True)
class Sides:
    """A comparison as a figure names it: id, label and the labels of its experimental and control sides."""

    id: str = ""
    label: str = "experimental vs control"
    experimental: str = "Experimental"
    control: str = "Control"


def comparison_sides(settings: dict, comparison_id) -> Sides:
    """The comparison's words from the synthesis settings (comparisons with their resolved side labels)."""
    for c in settings.get("comparisons") or []:
        if c["id"] == comparison_id:
            return Sides(c["id"], c["label"], c["experimental"].get("label") or "Experimental",
                        c["control"].get("label") or "Control")
    return Sides(as_text(comparison_id), as_text(comparison_id) or Sides.label)


@dataclass
class Block:
    """Studies with their pooled row (a subgroup level, a window, or the whole analysis)."""

    title: str | None
    studies: list[StudyLine]
    pooled: dict                 # the pooled.parquet row (k = 1: not pooled, drawn as a note)


@dataclass
class ForestSpec:
    """One figure: its blocks of studies, each with its pooled row, and an optional overall row."""

    id: str
    kind: str                    # main, subgroup or across_windows
    title: str
    subtitle: str
    measure: str
    benefit: str
    design: str
    unit: str | None
    blocks: list[Block]
    overall: dict | None         # drawn under the blocks (subgroup forests: the main analysis)
    max_rows: int                # more studies than this: the study rows are not drawn (unreadable anyway)
    comparison: Sides = None      # the comparison's id, label and side names (default: generic words)

    def __post_init__(self):
        if self.comparison is None:
            self.comparison = Sides()

    @property
    def sides(self) -> tuple[str, str]:
        """Column heads of the two sides: follow-up and baseline within arms, else the comparison's sides."""
        if self.design == "within_arm":
            return "Follow-up", "Baseline"
        return self.comparison.experimental, self.comparison.control

    @property
    def k_total(self) -> int:
        return sum(len(b.studies) for b in self.blocks)

    @property
    def collapsed(self) -> bool:
        return self.k_total > self.max_rows

    @property
    def ratio(self) -> bool:
        return self.measure in RATIO

    @property
    def events(self) -> bool:
        """Event measures show events / N columns; the others mean (SD) / N."""
        return self.measure in ("RR", "OR", "RD")

    @property
    def main_row(self) -> dict:
        return self.overall if self.overall is not None else self.blocks[0].pooled


# --------------------------------------------------------------------------------------
# Reading the pooled table
# --------------------------------------------------------------------------------------

def pooled_key(row: dict) -> str:
    """The pooled row's id (synthesis writes a pooled_id on every row: the forest index and the report link by it)."""
    return str(row["pooled_id"])


def plain(x):
    """x, with a missing value (None or NaN) as None."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def as_text(x) -> str:
    return "" if plain(x) is None else str(x)


def synthesis_settings(pooled_path: Path) -> dict:
    """The settings the pooled table was made with, as synthesis stores them in its Parquet metadata ({} if none)."""
    raw = (pq.read_schema(pooled_path).metadata or {}).get(SETTINGS_KEY.encode())
    return json.loads(raw) if raw else {}


def funnel_reason(k: int, min_k: int) -> str | None:
    """Why no funnel plot is drawn, or None if one is."""
    if k >= min_k:
        return None
    return (f"No funnel plot: k = {k} < {min_k} studies, too few to judge small-study effects or publication "
            "bias (Cochrane Handbook, chapter 13: funnel plots and asymmetry tests need at least 10 studies).")


# --------------------------------------------------------------------------------------
# The words of a forest: the figure and the manifest say the same
# --------------------------------------------------------------------------------------

def number_text(x, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:.{digits}f}".replace("-", "−")   # a real minus sign reads better in print


def count_text(x) -> str:
    return "–" if x is None or not np.isfinite(x) else (f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}")


def measure_text(measure: str, unit: str | None) -> str:
    """The measure's name, with the unit for the measures on the outcome's own scale."""
    return MEASURE_NAMES.get(measure, measure) + (f" ({unit})" if unit and measure in ("MD", "MC") else "")


def plot_scale(spec: ForestSpec):
    """Function from the stored (log for ratios) scale to the plotted scale."""
    return np.exp if spec.ratio else (lambda x: x)


def effect_text(scale, est, lo, hi) -> str:
    return f"{number_text(scale(est))} [{number_text(scale(lo))}, {number_text(scale(hi))}]"


def favours(design: str, benefit: str, sides: Sides | None = None) -> tuple[str, str]:
    """(left, right) labels under the axis: effects are side 1 minus (or over) side 2, named by the comparison's
    side labels (within arms: the experimental side's arms after treatment)."""
    sides = sides or Sides()
    if design == "within_arm":
        after = sides.experimental
        better, worse = f"Improved after {after}", f"Worsened after {after}"
        low, high = f"Lower after {after}", f"Higher after {after}"
    else:
        better, worse = f"Favours {sides.experimental}", f"Favours {sides.control}"
        low, high = f"Lower with {sides.experimental}", f"Higher with {sides.experimental}"
    if benefit == "higher":
        return worse, better
    if benefit == "lower":
        return better, worse
    return low, high


def model_label(row: dict) -> str:
    if row["method"] == "EE":
        return f"Common-effect model ({TEST_NAMES.get(row['test'], row['test'])})"
    used = row["method_used"] if row["method_used"] == row["method"] else f"{row['method']} → {row['method_used']}"
    return f"Random-effects model ({used}, {TEST_NAMES.get(row['test'], row['test'])})"


def _p(p) -> str:
    if p is None or not np.isfinite(p):
        return "–"
    return "p < 0.001" if p < 0.001 else (f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}")


def heterogeneity_text(row: dict) -> str:
    return (f"Heterogeneity: τ² = {number_text(row['tau2'])}; I² = {number_text(row['I2'], 0)}%; "
            f"Q = {number_text(row['Q'])} (df = {int(row['Q_df'])}), {_p(row['Q_p'])}")


def overall_test_text(row: dict) -> str:
    stat = f"t({row['df']:.0f})" if row["test"] == "knha" and np.isfinite(row["df"]) else "z"
    return f"Test for overall effect: {stat} = {number_text(row['statistic'])}, {_p(row['pval'])}"


def subgroup_difference_text(spec: ForestSpec) -> str | None:
    """The test for subgroup differences of a subgroup forest (stored on its subgroup rows by synthesis), or None."""
    row = spec.blocks[0].pooled
    if spec.kind != "subgroup" or not as_text(row.get("subgroup_test")):
        return None
    q = row.get("subgroup_q")
    if q is None or not np.isfinite(q):
        return "Test for subgroup differences: not computed (as many subgroups as studies, or too few studies)"
    df = int(row["subgroup_df"])
    model = f"moderator test, τ² by {METHOD_NAMES.get(row['method'], row['method'])}"
    if row["test"] == "knha":   # F with (subgroups - 1, k - subgroups) df
        df2 = sum(int(b.pooled["k"]) for b in spec.blocks) - len(spec.blocks)
        return (f"Test for subgroup differences: F({df}, {df2}) = {number_text(q)}, {_p(row['subgroup_p'])} "
                f"({model}, Hartung-Knapp)")
    return f"Test for subgroup differences: Q_M = {number_text(q)}, df = {df}, {_p(row['subgroup_p'])} ({model})"


def method_text(spec: ForestSpec) -> str:
    row = spec.main_row
    if not any(b.pooled["pooled"] for b in spec.blocks) and spec.overall is None:
        return (f"k = 1 in every block: nothing pooled; each study's own estimate with its {100 * row['level']:g}% "
                f"Wald CI. Pooling settings: {model_label(row)}" + ("; ratios on a log axis." if spec.ratio else "."))
    level = f"{100 * row['level']:g}%"
    model = model_label(row)
    pi = {"default": "metafor predict()", "riley": "Riley, t with k−2 df"}.get(row["prediction_interval"],
                                                                             row["prediction_interval"])
    ratio = "; ratios on a log axis" if spec.ratio else ""
    return (f"{model}, τ² by {METHOD_NAMES.get(row['method_used'], row['method_used'])}; {level} CIs; prediction "
            f"interval: {pi}. Squares: area ∝ weight{ratio}.")


def manifest_entry(spec: ForestSpec, files: dict, funnel: dict | None, reason: str | None, funnel_min_k: int) -> dict:
    """What the report needs about one forest: its settings, rows and ids (for provenance links)."""
    row = spec.main_row
    summaries = [{"label": b.title or "pooled", "pooled_key": pooled_key(b.pooled), "k": int(b.pooled["k"]),
                  "pooled": bool(b.pooled["pooled"]), "analysis_name": b.pooled["analysis_name"]} for b in spec.blocks]
    if spec.overall is not None:
        summaries.append({"label": "overall", "pooled_key": pooled_key(spec.overall), "k": int(spec.overall["k"]),
                          "pooled": bool(spec.overall["pooled"]), "analysis_name": "main"})
    rows = [{"block": b.title, "study_id": s.study_id, "comparison_id": s.comparison_id, "timepoint": s.timepoint,
             "effect": effect_text(plot_scale(spec), s.yi, s.ci_lb, s.ci_ub),
             "weight": None if s.weight is None else round(s.weight, 4)} for b in spec.blocks for s in b.studies
            if not spec.collapsed]       # a collapsed forest lists no rows: the report shows none either
    return {"id": spec.id, "kind": spec.kind, "title": spec.title, "subtitle": spec.subtitle,
            **{k: plain(row.get(k)) for k in (*IDENTITY, "outcome_label", "benefit", "scale", "unit", "method",
                                               "method_used", "test", "level", "prediction_interval")},
            "window": "all windows" if spec.kind == "across_windows" else row["window"],
            "k": int(row["k"]), "pooled": bool(row["pooled"]), "method_text": method_text(spec),
            "favours": list(favours(spec.design, spec.benefit, spec.comparison)),
            "comparison_label": spec.comparison.label, "sides": list(spec.sides), "rows": rows, "summaries": summaries,
            "files": files, "funnel": funnel, "funnel_reason": reason, "funnel_min_k": funnel_min_k,
            "collapsed": spec.collapsed, "k_total": spec.k_total}
