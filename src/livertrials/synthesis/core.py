"""Evidence synthesis: study-level effects, analysis windows, pooled estimates, comparators.

Reads the harmonized tables (``tables.HARMONIZED`` and ``tables.CHARACTERISTICS``) and writes:

* comparisons: one row per study x comparison x timepoint x effect measure (yi, vi, CI);
* windows: where every study timepoint went (analysis window, unassigned, not used) and why;
* pooled: per outcome x window x measure: the main analysis with every configured tau^2
  estimator and test, subgroups, sensitivity analyses and leave-one-out;
* comparators: published meta-analyses' pooled values, never recomputed and never pooled,
  beside our own pooled estimate for the same outcome, window and measure.

All effect sizes and pooling go through ``livertrials.synthesis.meta`` (the metafor-equivalent engine).
Rows of collection "comparators" never reach the pooling step: they are dropped before any
comparison is built, and ``pool_comparisons`` refuses them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from livertrials.harmonize import statconv
from livertrials.synthesis import meta
from livertrials.io.registry import load_registry
from livertrials.io.tables import field as _field, read_table, to_table, write_table  # dataclasses.field is taken
from livertrials.io.timepoints import DAYS_PER_UNIT

MONTH = DAYS_PER_UNIT["month"]
RATIO_MEASURES = ("RR", "OR", "HR")
REPORTED_MEASURE = {"MD": "MD", "WMD": "MD", "OR": "OR", "RR": "RR", "HR": "HR"}
MEASURE_SCALE = {
    "MD": "difference in the outcome's canonical unit",
    "MC": "mean change from baseline in the outcome's canonical unit",
    "SMD": "Hedges' g (exact J), SD units",
    "RR": "log risk ratio", "OR": "log odds ratio", "HR": "log hazard ratio",
    "RD": "risk difference (proportion)",
}
COMPARED_KINDS = ("continuous", "events", "effect")
PUBLISHED = "published, not recomputed"
_EPS = 1e-9   # day arithmetic: "month 4" is 121.75 d exactly, but be robust to rounding


# --------------------------------------------------------------------------------------
# Settings (config["synthesis"]; the defaults here are the shipped config's values)
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    """An analysis window [from_days, to_days] (inclusive; to_days None = open-ended)."""

    label: str
    from_days: float
    to_days: float | None
    nominal_days: float

    def contains(self, days: float) -> bool:
        return days >= self.from_days - _EPS and (self.to_days is None or days <= self.to_days + _EPS)


DEFAULT_WINDOWS = (
    Window("week 4", 14.0, 42.0, 28.0),
    Window("month 3", 2 * MONTH, 4 * MONTH, 3 * MONTH),
    Window("month 6", 5 * MONTH, 8 * MONTH, 6 * MONTH),
    Window("month 12", 9 * MONTH, 15 * MONTH, 12 * MONTH),
    Window("month 24+", 18 * MONTH, None, 24 * MONTH),
)
DEFAULT_SENSITIVITY = (
    ("exclude arm_attribution_uncertain", ("arm_attribution_uncertain",)),
    ("exclude secondary_source", ("secondary_source",)),
    ("exclude unit_presumed", ("unit_presumed",)),
    ("exclude mean_sd_estimated_from_quantiles", ("mean_sd_estimated_from_quantiles",)),
    ("exclude derived counts", ("count_from_percentage", "km_estimate")),
)
DEFAULT_SUBGROUPS = {
    "cell_source": {},
    "route": {},
    "condition": {"decompensated_cirrhosis": "cirrhosis", "compensated_cirrhosis": "cirrhosis", "cirrhosis": "cirrhosis",
                  "ACLF": "ACLF"},
    "randomized": {},
}


@dataclass(frozen=True)
class Settings:
    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    not_stated_assignments: tuple[dict, ...] = ()
    methods: tuple[str, ...] = ("EE", "DL", "REML", "PM")
    default_method: str = "REML"
    tests: tuple[str, ...] = ("z", "knha")
    default_test: str = "z"
    fallback: str = "DL"
    prediction_interval: str = "default"
    level: float = 0.95
    continuous_measures: tuple[str, ...] = ("MD", "SMD")
    event_measures: tuple[str, ...] = ("RR", "OR", "RD")
    continuity_add: float = 0.5
    continuity_to: str = "only0"
    continuity_drop00: bool = False
    pre_post_correlation: float = 0.5
    pre_post_correlation_sensitivity: tuple[float, ...] = (0.2, 0.8)
    pool_across_meld_variants: bool = False
    include_meld_approximations: bool = False
    subgroups: dict = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_SUBGROUPS.items()})
    sensitivity_exclusions: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_SENSITIVITY
    exclude_non_randomized: bool = True
    leave_one_out_min_k: int = 3
    leave_one_out_max_k: int = 40

    @classmethod
    def from_config(cls, cfg: dict) -> Settings:
        """Settings from config["synthesis"] (missing keys keep the defaults)."""
        simple = {k: cfg[k] for k in ("default_method", "default_test", "fallback", "prediction_interval", "level",
                                     "pre_post_correlation", "pool_across_meld_variants", "include_meld_approximations",
                                     "exclude_non_randomized", "leave_one_out_min_k", "leave_one_out_max_k") if k in cfg}
        tuples = {k: tuple(cfg[k]) for k in ("methods", "tests", "continuous_measures", "event_measures",
                                            "pre_post_correlation_sensitivity") if k in cfg}
        extra = {}
        if "windows" in cfg:
            extra["windows"] = tuple(Window(w["label"], float(w["from_days"]), _opt_float(w.get("to_days")),
                                            float(w["nominal_days"])) for w in cfg["windows"])
        if "not_stated_assignments" in cfg:
            extra["not_stated_assignments"] = tuple(dict(a) for a in cfg["not_stated_assignments"])
        if "continuity_correction" in cfg:
            cc = cfg["continuity_correction"]
            extra.update(continuity_add=float(cc["add"]), continuity_to=cc["to"], continuity_drop00=bool(cc["drop00"]))
        if "subgroups" in cfg:
            extra["subgroups"] = {k: dict(v or {}) for k, v in cfg["subgroups"].items()}
        if "sensitivity_exclusions" in cfg:
            extra["sensitivity_exclusions"] = tuple((s["name"], tuple(s["flags"])) for s in cfg["sensitivity_exclusions"])
        settings = cls(**simple, **tuples, **extra)
        settings.check()
        return settings

    def check(self) -> None:
        ordered = sorted(self.windows, key=lambda w: w.from_days)
        for a, b in zip(ordered, ordered[1:]):
            if a.to_days is None or a.to_days >= b.from_days:
                raise ValueError(f"analysis windows {a.label!r} and {b.label!r} overlap: "
                                 "a timepoint must fall in at most one")
        labels = {w.label for w in self.windows}
        for item in self.not_stated_assignments:
            if item["window"] not in labels:
                raise ValueError(f"not_stated_assignments: unknown window {item['window']!r} (have {sorted(labels)})")
        if self.default_method not in self.methods or self.default_test not in self.tests:
            raise ValueError("default_method/default_test must be among methods/tests")

    @property
    def correlations(self) -> tuple[float, ...]:
        """Pre-post correlations to compute: the main value first, then the sensitivity values."""
        return (self.pre_post_correlation,) + tuple(r for r in self.pre_post_correlation_sensitivity
                                                    if r != self.pre_post_correlation)

    def as_json(self) -> str:
        return json.dumps(asdict(self), default=str)


def _opt_float(x) -> float | None:
    return None if x is None else float(x)


# --------------------------------------------------------------------------------------
# Output schemas
# --------------------------------------------------------------------------------------

_LIST = pa.list_(pa.string())


def _side_fields(side: int) -> list[pa.Field]:
    who = "intervention arms, or the arms at follow-up" if side == 1 else "control arms, or the same arms at baseline"
    return [_field(f"n_{side}", pa.float64(), f"patients on side {side} ({who})", "patients"),
            _field(f"mean_{side}", pa.float64(), f"mean on side {side} (canonical unit)"),
            _field(f"sd_{side}", pa.float64(), f"SD on side {side} (canonical unit)"),
            _field(f"events_{side}", pa.float64(), f"patients with the event on side {side}", "patients"),
            _field(f"total_{side}", pa.float64(), f"denominator of events on side {side}", "patients")]


COMPARISONS = pa.schema([
    _field("comparison_id", pa.string(), "stable id of this study-level effect"),
    _field("collection", pa.string(), "always 'studies': comparator rows are never turned into comparisons"),
    _field("study_id", pa.string(), "study folder name"),
    _field("outcome", pa.string(), "registry outcome id"),
    _field("outcome_label", pa.string(), "outcome name for people"),
    _field("benefit", pa.string(), "direction of benefit from the registry (higher, lower, none)"),
    _field("design", pa.string(), "between_arms (arm vs arm) or within_arm (change from baseline in the cell arms)"),
    _field("comparison_type", pa.string(), "main (cell arms combined vs control arms combined), arm_vs_arm "
           "(e.g. multiple vs single transplants; never pooled) or within_arm (cell arms combined, follow-up vs baseline)"),
    _field("comparison", pa.string(), "the comparison in words (arm ids)"),
    _field("source", pa.string(), "arm_data (computed from arm summaries) or reported_effect (study's own effect and CI)"),
    _field("basis", pa.string(), "final values, change from baseline (arm-reported or a change outcome), within-arm "
           "change, events, reported mean difference or time to event. MD pools may mix final values, changes and "
           "reported MDs (Cochrane Handbook 10.5.2); every other measure is pooled within one basis"),
    _field("arms_1", _LIST, "arm ids of side 1 (intervention arms, or the follow-up arms of a within-arm change)"),
    _field("arms_2", _LIST, "arm ids of side 2 (control arms, or the same arms at baseline)"),
    *_side_fields(1),
    *_side_fields(2),
    _field("pre_post_correlation", pa.float64(), "correlation used to impute the SD of change (within_arm only)"),
    _field("measure", pa.string(), "MD, SMD, RR, OR, RD, HR, or MC (raw mean change, metafor measure MC)"),
    _field("scale", pa.string(), "what yi is (log scale for RR, OR and HR)"),
    _field("unit", pa.string(), "canonical unit of the outcome (MD and MC rows)"),
    _field("yi", pa.float64(), "effect size (side 1 minus / over side 2)"),
    _field("vi", pa.float64(), "sampling variance of yi"),
    _field("se", pa.float64(), "sqrt(vi)"),
    _field("ci_lb", pa.float64(), "lower Wald confidence limit of yi (level from config)"),
    _field("ci_ub", pa.float64(), "upper Wald confidence limit of yi"),
    _field("timepoint_text", pa.string(), "timepoint as printed"),
    _field("timepoint_kind", pa.string(), "point, range, not_stated or schedule"),
    _field("timepoint_days", pa.float64(), "days since first treatment", "days"),
    _field("window", pa.string(), "analysis window (null: unassigned, see assignment)"),
    _field("assignment", pa.string(), "window label, or 'unassigned: reason'"),
    _field("used", pa.bool_(), "true if the row enters the pooled analyses of its window"),
    _field("not_used_reason", pa.string(), "why a row with an effect is not pooled"),
    _field("meld_variant", pa.string(), "MELD variant (MELD outcomes only)"),
    _field("study_kind", pa.string(), "trial, cohort, case_series"),
    _field("randomized", pa.string(), "randomized, not randomized or not stated"),
    _field("condition", pa.string(), "study condition (decompensated cirrhosis, ACLF, ...)"),
    _field("cell_source", pa.string(), "cell source of the side-1 arms ('mixed' if they differ)"),
    _field("route", pa.string(), "route of delivery of the side-1 arms ('mixed' if they differ)"),
    _field("flags", _LIST, "union of the flags of every record used"),
    _field("record_ids", _LIST, "harmonized record_id of every record used"),
    _field("note", pa.string(), "how the effect was made (arms combined, continuity correction, ...)"),
])

WINDOWS = pa.schema([
    _field("window_row_id", pa.string(), "stable id of this row (lineage: results/provenance/lineage.parquet)"),
    _field("study_id", pa.string(), "study folder name"),
    _field("outcome", pa.string(), "registry outcome id"),
    _field("timepoint_text", pa.string(), "timepoint as printed"),
    _field("timepoint_kind", pa.string(), "point, range, not_stated or schedule"),
    _field("timepoint_days", pa.float64(), "days since first treatment (end of a range)", "days"),
    _field("window", pa.string(), "analysis window, null if unassigned or baseline"),
    _field("assignment", pa.string(), "window label, 'baseline: ...' or 'unassigned: reason'"),
    _field("status", pa.string(), "used, not used, no comparison, unassigned or baseline"),
    _field("note", pa.string(), "why (e.g. another timepoint is closer to the window's nominal time)"),
    _field("record_ids", _LIST, "harmonized records at this study x outcome x timepoint"),
])

_RESULT_FIELDS = [
    ("estimate", "pooled estimate (scale of the measure)"), ("se", "standard error"),
    ("statistic", "z or t statistic"), ("df", "t degrees of freedom (knha), null for z"), ("pval", "p value"),
    ("ci_lb", "lower confidence limit"), ("ci_ub", "upper confidence limit"),
    ("pi_lb", "lower prediction limit (null for EE and k = 1)"), ("pi_ub", "upper prediction limit"),
    ("ratio_estimate", "exp(estimate) for RR, OR, HR"), ("ratio_ci_lb", "exp(ci_lb)"), ("ratio_ci_ub", "exp(ci_ub)"),
    ("ratio_pi_lb", "exp(pi_lb)"), ("ratio_pi_ub", "exp(pi_ub)"),
    ("tau2", "between-study variance"), ("tau2_se", "SE of tau2"), ("tau2_ci_lb", "Q-profile lower limit of tau2"),
    ("tau2_ci_ub", "Q-profile upper limit of tau2"), ("tau", "sqrt(tau2)"),
    ("Q", "Cochran's Q"), ("Q_p", "p value of Q"), ("I2", "I^2 in percent (metafor: from tau2)"),
    ("I2_ci_lb", "lower limit of I^2"), ("I2_ci_ub", "upper limit of I^2"), ("H2", "H^2"),
    ("H2_ci_lb", "lower limit of H^2"), ("H2_ci_ub", "upper limit of H^2"),
]

POOLED = pa.schema([
    _field("pooled_id", pa.string(), "stable id of this pooled row: the same pool, analysis, method and test keep their "
           "id when studies are added (`livertrials audit ID` prints its trail down to the printed numbers)"),
    _field("analysis", pa.string(), "main, subgroup, sensitivity or leave_one_out"),
    _field("analysis_name", pa.string(),
           "which analysis (e.g. 'exclude arm_attribution_uncertain', 'pre-post correlation 0.2')"),
    _field("design", pa.string(), "between_arms or within_arm"),
    _field("basis", pa.string(),
           "basis of the study effects pooled, ' + ' joined if an MD pool mixes them (see comparisons.basis)"),
    _field("outcome", pa.string(), "registry outcome id"),
    _field("outcome_label", pa.string(), "outcome name for people"),
    _field("benefit", pa.string(), "direction of benefit (higher, lower, none)"),
    _field("window", pa.string(), "analysis window"),
    _field("measure", pa.string(), "effect measure"),
    _field("scale", pa.string(), "what the estimate is"),
    _field("unit", pa.string(), "canonical unit (MD, MC)"),
    _field("meld_variant", pa.string(), "MELD variant pooled (MELD outcomes; 'any' if pooling across variants is allowed)"),
    _field("pre_post_correlation", pa.float64(), "correlation used for within-arm SDs of change"),
    _field("subgroup_variable", pa.string(), "cell_source, route, condition or randomized (subgroup rows)"),
    _field("subgroup_level", pa.string(), "level of the subgroup variable"),
    _field("excluded_flags", _LIST, "flags whose rows were excluded (sensitivity rows)"),
    _field("omitted_study_id", pa.string(), "study left out (leave_one_out rows)"),
    _field("method", pa.string(), "tau^2 estimator asked for (EE = common effect)"),
    _field("method_used", pa.string(), "estimator that produced tau^2 (differs after a REML fallback)"),
    _field("test", pa.string(), "z or knha (Hartung-Knapp)"),
    _field("level", pa.float64(), "confidence level"),
    _field("prediction_interval", pa.string(), "default (metafor predict) or riley (t, k-2 df)"),
    _field("k", pa.int64(), "number of studies"),
    _field("pooled", pa.bool_(), "false when k = 1: the study's own estimate is shown, nothing was pooled"),
    *[_field(name, pa.float64(), text) for name, text in _RESULT_FIELDS],
    _field("Q_df", pa.int64(), "degrees of freedom of Q"),
    _field("converged", pa.bool_(), "false if the iterative estimator did not converge (see warnings)"),
    _field("iterations", pa.int64(), "Fisher scoring iterations"),
    _field("warnings", _LIST, "engine warnings (k = 1, fallback, ll0check, ...)"),
    _field("study_ids", _LIST, "studies pooled"),
    _field("weights", pa.list_(pa.float64()), "weights in percent, in the order of study_ids"),
    _field("comparison_ids", _LIST, "comparisons.comparison_id of the rows pooled"),
    _field("record_ids", _LIST, "harmonized record_ids behind the rows pooled"),
])

COMPARATORS = pa.schema([
    _field("comparator_id", pa.string(), "stable id of this row (lineage: results/provenance/lineage.parquet)"),
    _field("source", pa.string(), "always 'published, not recomputed'"),
    _field("study_id", pa.string(), "published meta-analysis (comparator folder)"),
    _field("record_id", pa.string(), "harmonized record_id"),
    _field("outcome", pa.string(), "registry outcome id"),
    _field("outcome_label", pa.string(), "outcome name"),
    _field("timepoint_text", pa.string(), "timepoint as printed"),
    _field("timepoint_days", pa.float64(), "days", "days"),
    _field("window", pa.string(), "analysis window (null: unassigned)"),
    _field("assignment", pa.string(), "window label or 'unassigned: reason'"),
    _field("published_measure", pa.string(), "effect measure as published (MD, WMD, OR, RR, HR)"),
    _field("published_estimate", pa.float64(), "published pooled estimate (ratio scale for OR/RR/HR)"),
    _field("published_ci_lower", pa.float64(), "published lower 95% limit"),
    _field("published_ci_upper", pa.float64(), "published upper 95% limit"),
    _field("published_p_value", pa.string(), "p value as printed"),
    _field("published_n", pa.float64(), "patients in the published analysis", "patients"),
    _field("unit", pa.string(), "unit of the published estimate"),
    _field("flags", _LIST, "flags of the published record"),
    _field("our_measure", pa.string(), "our measure matched to the published one (WMD -> MD)"),
    _field("our_method", pa.string(), "our tau^2 estimator"),
    _field("our_test", pa.string(), "our test"),
    _field("our_k", pa.int64(), "studies in our estimate (0: none)"),
    _field("our_estimate", pa.float64(), "our pooled estimate on the published scale (null if k < 2)"),
    _field("our_ci_lb", pa.float64(), "our lower limit (published scale)"),
    _field("our_ci_ub", pa.float64(), "our upper limit (published scale)"),
    _field("our_I2", pa.float64(), "our I^2 (percent)"),
    _field("our_study_ids", _LIST, "our studies"),
    _field("our_note", pa.string(), "what was matched, or why there is no pooled estimate"),
    _field("our_pooled_id", pa.string(), "pooled.pooled_id of our estimate shown (null: none)"),
])


# --------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------

def is_baseline(text: str, kind: str, days: float) -> bool:
    return str(text).strip().casefold().startswith("baseline") or (kind == "point" and days == 0)


def assign_window(study_id: str, text: str, kind: str, days: float, settings: Settings) -> tuple[str | None, str]:
    """(window label or None, the assignment as reported). Baseline is never a window."""
    for item in settings.not_stated_assignments:   # a recorded decision from config
        if item["study_id"] == study_id and item["timepoint_text"] == text:
            return item["window"], f"{item['window']} (config: {item['reason']})"
    if is_baseline(text, kind, days):
        return None, "baseline: never a window (reference for change from baseline only)"
    if kind == "schedule":
        return None, "unassigned: treatment schedule, not an outcome time"
    if kind == "not_stated" or days is None or not math.isfinite(days):
        return None, "unassigned: timepoint not stated"
    for window in settings.windows:
        if window.contains(days):
            return window.label, window.label
    return None, f"unassigned: day {days:g} is outside every analysis window"


def _nominal(settings: Settings) -> dict[str, float]:
    return {w.label: w.nominal_days for w in settings.windows}


# --------------------------------------------------------------------------------------
# Study-level comparisons
# --------------------------------------------------------------------------------------

@dataclass
class Side:
    """One side of a comparison: its arms merged (Cochrane Table 6.5.a / events and totals added)."""

    arms: list[str]
    records: list[dict]
    n: float = math.nan
    mean: float = math.nan
    sd: float = math.nan
    events: float = math.nan
    total: float = math.nan


def _text(x) -> str | None:
    """A string cell, or None for null/NaN."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def _finite(x) -> bool:
    return x is not None and not pd.isna(x) and math.isfinite(float(x))


def _records(frame: pd.DataFrame) -> list[dict]:
    """frame.to_dict("records"), the same values built column by column: several times faster on
    Arrow-backed string columns, and large corpora convert tens of thousands of rows."""
    columns = list(frame.columns)
    return [dict(zip(columns, values)) for values in zip(*(frame[c].tolist() for c in columns))]


@lru_cache
def _z(level: float) -> float:
    """Two-sided normal critical value (asked for once per comparisons row)."""
    return stats.norm.isf((1 - level) / 2)


def _continuous_side(records: list[dict]) -> Side | str:
    usable = [r for r in records
              if _finite(r["n"]) and r["n"] > 0 and _finite(r["mean"]) and _finite(r["sd"]) and r["sd"] > 0]
    if not usable:
        return "no n, mean and SD > 0 in " + ", ".join(sorted(r["arm_id"] for r in records))
    merged = statconv.combine_groups([r["n"] for r in usable], [r["mean"] for r in usable], [r["sd"] for r in usable])
    return Side([r["arm_id"] for r in usable], usable, merged.n, merged.mean, merged.sd)


def _events_side(records: list[dict]) -> Side | str:
    def total(r):
        return r["total"] if _finite(r["total"]) else r["n"]
    usable = [r for r in records if _finite(r["events"]) and _finite(total(r)) and total(r) > 0]
    if not usable:
        return "no events and denominator in " + ", ".join(sorted(r["arm_id"] for r in records))
    events, totals = statconv.combine_events([r["events"] for r in usable], [total(r) for r in usable])
    return Side([r["arm_id"] for r in usable], usable, n=totals, events=events, total=totals)


def _effects(kind: str, pairs: list[tuple[Side, Side]], settings: Settings) -> list[list[tuple[str, float, float, str]]]:
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


@dataclass(frozen=True)
class _ArmComparison:
    """A between-arm comparison of arm data, waiting for its effect sizes: ``_with_effects`` computes those of
    all comparisons at once (escalc called per comparison dominated large corpora) and makes the rows."""

    first: dict
    info: dict
    labels: dict
    kind: str
    s1: Side
    s2: Side


def _with_effects(parts: list, settings: Settings) -> list[dict]:
    """Comparisons rows, in order, from rows and _ArmComparisons."""
    waiting = [part for part in parts if isinstance(part, _ArmComparison)]
    effects = {}
    for continuous in (True, False):
        batch = [part for part in waiting if (part.kind == "continuous") == continuous]
        if batch:
            kind = "continuous" if continuous else "events"
            effects.update(zip(map(id, batch), _effects(kind, [(part.s1, part.s2) for part in batch], settings)))
    out = []
    for part in parts:
        if isinstance(part, _ArmComparison):
            out += _rows(part.first, part.info, part.labels, effects[id(part)], part.s1, part.s2,
                         part.s1.records + part.s2.records, settings)
        else:
            out.append(part)
    return out


def _side_summary(kind: str, records: list[dict]) -> Side | str:
    return _continuous_side(records) if kind == "continuous" else _events_side(records)


def _arm_pairs(records: list[dict]) -> list[tuple[dict, dict]]:
    """Arm-vs-arm contrasts: every pair of cell arms, and each cell arm vs each active comparator."""
    cells = sorted((r for r in records if r["arm_role"] == "intervention"), key=lambda r: r["arm_id"])
    actives = sorted((r for r in records if r["arm_role"] == "active_comparator"), key=lambda r: r["arm_id"])
    pairs = [(a, b) for i, a in enumerate(cells) for b in cells[i + 1:]]
    return pairs + [(a, b) for a in cells for b in actives]


def _why_no_main(records: list[dict]) -> str:
    roles = sorted({r["arm_role"] for r in records})
    if len(records) == 1:
        return f"single group at this timepoint ({records[0]['arm_id']}, role {records[0]['arm_role']})"
    if "intervention" not in roles:
        return f"no cell-therapy arm (roles: {', '.join(roles)})"
    return f"no control arm (roles: {', '.join(roles)})"


def _between_arms(records: list[dict], kind: str) -> tuple[list[tuple], str]:
    """[(comparison_type, label, side1, side2, note)] at one timepoint, and why the main one is missing."""
    cells = [r for r in records if r["arm_role"] == "intervention"]
    controls = [r for r in records if r["arm_role"] == "control"]
    candidates = [("arm_vs_arm", [a], [b]) for a, b in _arm_pairs(records)]
    reasons = []
    if cells and controls:
        candidates.insert(0, ("main", cells, controls))
    else:
        reasons.append(_why_no_main(records))
    made = []
    for comparison_type, first, second in candidates:
        s1, s2 = _side_summary(kind, first), _side_summary(kind, second)
        reasons += [s for s in (s1, s2) if isinstance(s, str)]
        if isinstance(s1, str) or isinstance(s2, str):
            continue
        label = f"{' + '.join(s1.arms)} vs {' + '.join(s2.arms)}"
        note = "; ".join(n for n in (_merge_note(s1, first), _merge_note(s2, second)) if n)
        made.append((comparison_type, label, s1, s2, note))
    return made, "; ".join(dict.fromkeys(reasons))


def _reported_effect(record: dict) -> tuple[str, float, float] | str:
    """(measure, yi, vi) from an effect printed with its 95% CI (log scale for ratios)."""
    measure = REPORTED_MEASURE.get(_text(record["effect_measure"]))
    est, lo, hi = record["estimate"], record["ci_lower"], record["ci_upper"]
    if measure is None or not all(_finite(x) for x in (est, lo, hi)):
        return "reported effect without an estimate and 95% CI"
    try:
        if measure in RATIO_MEASURES:
            yi, vi = meta.loghr_from_ci(est, lo, hi, level=0.95)   # same formula for any ratio
            return measure, float(yi[0]), float(vi[0])
        if not lo <= est <= hi or lo == hi:
            raise ValueError("need lower <= estimate <= upper")
    except ValueError as error:
        return f"reported effect not usable: {error}"
    se = (hi - lo) / (2 * stats.norm.isf(0.025))   # averages the two halves if the CI is asymmetric
    return measure, float(est), float(se**2)


def _basis(record: dict, source: str, measure: str = "") -> str:
    if source == "reported_effect":
        return {"MD": "reported mean difference", "HR": "time to event"}.get(measure, "events")
    if record["kind"] == "events":
        return "events"
    # a change outcome (e.g. meld_change, "Change in MELD score from baseline") is a change even as a "level"
    change = record["quantity"] == "change" or "from baseline" in str(record["outcome_label"]).casefold()
    return "change from baseline" if change else "final values"


def _mixed(values) -> str | None:
    found = sorted({str(v) for v in values if v is not None and not pd.isna(v)})
    return None if not found else found[0] if len(found) == 1 else "mixed"


def _study_info(characteristics: pd.DataFrame) -> dict[str, dict]:
    """Per study: kind, condition and randomization (from its first row) and each arm's cell source and route."""
    info = {}
    columns = ["study_id", "kind", "condition", "randomized", "arm_id", "cell_source", "route"]
    for row in _records(characteristics[columns]):   # one pass: a groupby per study dominated large corpora
        if row["study_id"] not in info:
            randomized = row["randomized"]
            info[row["study_id"]] = {
                "study_kind": row["kind"], "condition": row["condition"],
                "randomized": "not stated" if randomized is None or pd.isna(randomized)
                else "randomized" if bool(randomized) else "not randomized",
                "arms": {},
            }
        arms = info[row["study_id"]]["arms"]
        if row["arm_id"] in arms:   # refused, as the per-study to_dict("index") this replaces did
            raise ValueError(f"study {row['study_id']}: arm {row['arm_id']!r} appears twice in the characteristics")
        arms[row["arm_id"]] = {"cell_source": row["cell_source"], "route": row["route"]}
    return info


def _comparison_id(*parts) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:16]


def _rows(first: dict, info: dict, labels: dict, effects: list, s1: Side | None, s2: Side | None,
          records: list[dict], settings: Settings, corr: float | None = None) -> list[dict]:
    """One comparisons row per effect measure."""
    arms = info.get("arms", {})
    z = _z(settings.level)
    base = {
        "collection": "studies", "study_id": first["study_id"], "outcome": first["outcome"],
        "outcome_label": first["outcome_label"], "timepoint_text": first["timepoint_text"],
        "timepoint_kind": first["timepoint_kind"], "timepoint_days": first["timepoint_days"],
        "meld_variant": first["meld_variant"],
        "study_kind": info.get("study_kind"), "randomized": info.get("randomized", "not stated"),
        "condition": info.get("condition"),
        "flags": sorted({f for r in records for f in r["flags"]}),
        "record_ids": list(dict.fromkeys(r["record_id"] for r in records)),
        "pre_post_correlation": corr, **labels,
    }
    arms_1 = labels["arms_1"]
    base["cell_source"] = _mixed(arms.get(a, {}).get("cell_source") for a in arms_1)
    base["route"] = _mixed(arms.get(a, {}).get("route") for a in arms_1)
    for number, side in ((1, s1), (2, s2)):
        if side is not None:
            base.update({f"n_{number}": side.n, f"mean_{number}": side.mean, f"sd_{number}": side.sd,
                         f"events_{number}": side.events, f"total_{number}": side.total})
    out = []
    for measure, yi, vi, note in effects:
        se = math.sqrt(vi)
        unit = first["unit"] if measure in ("MD", "MC") else None
        notes = "; ".join(n for n in (labels.get("note", ""), note) if n)
        out.append({**base, "measure": measure, "scale": MEASURE_SCALE[measure], "unit": unit, "yi": yi,
                    "vi": vi, "se": se, "ci_lb": yi - z * se, "ci_ub": yi + z * se, "note": notes,
                    "comparison_id": _comparison_id(first["study_id"], first["outcome"], first["timepoint_text"],
                                                    labels["comparison"], measure, corr)})
    return out


def _merge_note(side: Side, role_records: list[dict]) -> str:
    missing = sorted({r["arm_id"] for r in role_records} - set(side.arms))
    parts = []
    if len(side.arms) > 1:
        parts.append(f"{' + '.join(side.arms)} combined (Cochrane Table 6.5.a)")
    if missing:
        parts.append(f"{', '.join(missing)} without usable data")
    return "; ".join(parts)


def _timepoint_comparisons(records: list[dict], info: dict, settings: Settings) -> tuple[list, str]:
    """Between-arm comparisons (arm data, as _ArmComparison, and rows of reported effects) at one
    study x outcome x timepoint."""
    first = records[0]
    arms = [r for r in records if not r["is_contrast"]]
    out, reasons = [], []
    for quantity in sorted({r["quantity"] for r in arms}):
        group = [r for r in arms if r["quantity"] == quantity]
        if quantity not in ("level", "change"):
            reasons.append(f"{quantity} values cannot give a study effect with a variance")
            continue
        made, why = _between_arms(group, first["kind"])
        reasons.append(why)
        for comparison_type, label, s1, s2, note in made:
            labels = {"design": "between_arms", "comparison_type": comparison_type, "comparison": label,
                      "source": "arm_data", "basis": _basis(group[0], "arm_data"),
                      "arms_1": s1.arms, "arms_2": s2.arms, "note": note}
            out.append(_ArmComparison(first, info, labels, first["kind"], s1, s2))
    for record in (r for r in records if r["is_contrast"]):
        effect = _reported_effect(record)
        if isinstance(effect, str):
            p_value = f" (p {record['p_value']})" if _text(record["p_value"]) else ""
            reasons.append(effect if _text(record["effect_measure"]) else
                           f"contrast {record['arm_id']}: no effect estimate with a 95% CI{p_value}")
            continue
        measure, yi, vi = effect
        labels = {"design": "between_arms", "comparison_type": "main", "comparison": record["arm_id"],
                  "source": "reported_effect", "basis": _basis(record, "reported_effect", measure),
                  "arms_1": [record["arm_id"]], "arms_2": [], "note": f"{record['effect_measure']} and 95% CI as reported"}
        out += _rows(record, info, labels, [(measure, yi, vi, "")], None, None, [record], settings)
    return out, "; ".join(r for r in dict.fromkeys(reasons) if r)


def _within_arm(records: list[dict], info: dict, settings: Settings) -> list[dict]:
    """Change from baseline in the cell arms (combined), SD of change imputed with each correlation."""
    cells = [r for r in records if r["arm_role"] == "intervention" and not r["is_contrast"]
             and r["kind"] == "continuous" and r["quantity"] == "level"]
    baseline = {r["arm_id"]: r for r in cells if is_baseline(r["timepoint_text"], r["timepoint_kind"], r["timepoint_days"])
                if isinstance(_continuous_side([r]), Side)}
    out = []
    for text in dict.fromkeys(r["timepoint_text"] for r in cells):
        follow = [r for r in cells if r["timepoint_text"] == text and r["arm_id"] in baseline
                  and not is_baseline(text, r["timepoint_kind"], r["timepoint_days"])
                  and isinstance(_continuous_side([r]), Side)]
        if not follow:
            continue
        after = _continuous_side(follow)
        before = _continuous_side([baseline[r["arm_id"]] for r in follow])
        label = f"{' + '.join(after.arms)}: {text} vs baseline"
        combined = (f"{' + '.join(after.arms)} combined at baseline and at follow-up (Cochrane Table 6.5.a); "
                    if len(follow) > 1 else "")
        labels = {"design": "within_arm", "comparison_type": "within_arm", "comparison": label, "source": "arm_data",
                  "basis": "within-arm change", "arms_1": after.arms, "arms_2": before.arms,
                  "note": combined + "SD of change imputed with the pre-post correlation (Cochrane Handbook 6.5.2.8)"}
        for corr in settings.correlations:
            # metafor escalc measure "MC": yi = m_after - m_before, vi = SD_change^2 / n
            vi = statconv.sd_change(before.sd, after.sd, corr) ** 2 / after.n
            out += _rows(follow[0], info, labels, [("MC", after.mean - before.mean, vi, "")], after, before,
                         after.records + before.records, settings, corr=corr)
    return out


def build_comparisons(harmonized: pd.DataFrame, characteristics: pd.DataFrame, settings: Settings,
                      benefit: dict[str, str] | None = None) -> tuple[pd.DataFrame, dict]:
    """(comparisons, reasons): every study-level effect, and why a timepoint gave none."""
    rows = harmonized[(harmonized["collection"] == "studies") & harmonized["kind"].isin(COMPARED_KINDS)]
    info = _study_info(characteristics[characteristics["collection"] == "studies"])
    out, reasons = [], {}
    by_study_outcome: dict[tuple, list[dict]] = {}
    for record in _records(rows):  # one conversion: per-group to_dict dominated large corpora
        by_study_outcome.setdefault((record["study_id"], record["outcome"]), []).append(record)
    for (study_id, outcome), records in sorted(by_study_outcome.items()):
        for text in dict.fromkeys(r["timepoint_text"] for r in records):
            at_time = [r for r in records if r["timepoint_text"] == text]
            if is_baseline(text, at_time[0]["timepoint_kind"], at_time[0]["timepoint_days"]):
                continue
            made, why = _timepoint_comparisons(at_time, info.get(study_id, {}), settings)
            out += made
            if why:
                reasons[(study_id, outcome, text)] = why
        out += _within_arm(records, info.get(study_id, {}), settings)
    frame = pd.DataFrame(_with_effects(out, settings), columns=COMPARISONS.names)
    frame["benefit"] = [(benefit or {}).get(o, "none") for o in frame["outcome"].tolist()]
    return mark_used(frame, settings), reasons


def _pool_basis(frame: pd.DataFrame) -> pd.Series:
    """Bases that may share a pool: for MD, final values, changes and reported MDs together
    (Cochrane Handbook 10.5.2); for SMD and everything else, one basis per pool."""
    return frame["basis"].where(frame["measure"] != "MD", "final values or change (MD)")


def mark_used(comparisons: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Assign windows; keep one timepoint per study x window x contrast x measure (closest to nominal)."""
    frame = comparisons.copy()
    frame["pool_basis"] = _pool_basis(frame)
    # plain lists: iterating Arrow-backed columns row by row is slow on large corpora
    timepoints = zip(*(frame[c].tolist() for c in ("study_id", "timepoint_text", "timepoint_kind", "timepoint_days")))
    assigned = [assign_window(*timepoint, settings) for timepoint in timepoints]
    frame["window"] = [w for w, _ in assigned]
    frame["assignment"] = [a for _, a in assigned]
    frame["used"] = False
    frame["not_used_reason"] = [None if w else a for w, a in assigned]
    pooled_types = frame["comparison_type"].isin(["main", "within_arm"])
    frame.loc[~pooled_types, "not_used_reason"] = "arm-vs-arm contrast: reported, never pooled"
    if not settings.include_meld_approximations:
        # MELD at the mean labs is not the mean MELD: shown beside the reported MELD, pooled only on request
        approximate = frame["outcome"] == "meld_at_mean_labs"
        frame.loc[approximate, "not_used_reason"] = ("approximation (MELD at the mean labs): not pooled unless "
                                                     "synthesis.include_meld_approximations is true")
        pooled_types &= ~approximate
    candidates = frame[frame["window"].notna() & pooled_types]
    nominal = _nominal(settings)
    keys = ["study_id", "outcome", "window", "design", "pool_basis", "measure", "pre_post_correlation"]
    # closest to the nominal time first; at equal distance arm data beat a reported effect, then
    # the earlier timepoint wins; a not-stated timepoint placed by config ranks after every stated one.
    # One sort instead of a loop over groups: the loop dominated large corpora.
    windows, days = candidates["window"].tolist(), candidates["timepoint_days"].tolist()
    ranked = candidates.assign(
        _target=[nominal[w] for w in windows],
        _distance=[_distance(d, nominal[w]) for d, w in zip(days, windows)],
        _reported=candidates["source"] != "arm_data",
        _from_start=[_distance(d, 0.0) for d in days],
    ).sort_values(keys + ["_distance", "_reported", "_from_start"], kind="stable", na_position="last")
    best = ~ranked.duplicated(keys, keep="first")
    frame.loc[ranked.index[best], "used"] = True
    winner = ranked[best].set_index(keys)[["timepoint_text", "_target"]]
    others = ranked[~best]
    if len(others):
        chosen = winner.reindex(pd.MultiIndex.from_frame(others[keys]))
        for index, text, best_text, target in zip(others.index, others["timepoint_text"].tolist(),
                                                  chosen["timepoint_text"].tolist(), chosen["_target"].tolist()):
            frame.at[index, "not_used_reason"] = (
                "arm-level data used instead of the reported effect" if text == best_text else
                f"not used: {best_text!r} is closer to the window's nominal day {target:g}")
    return frame


def _distance(days: float, target: float) -> float:
    return abs(days - target) if _finite(days) else math.inf


# --------------------------------------------------------------------------------------
# Assignment report
# --------------------------------------------------------------------------------------

def window_report(harmonized: pd.DataFrame, comparisons: pd.DataFrame, reasons: dict, settings: Settings) -> pd.DataFrame:
    """Where every study x outcome x timepoint went, and why."""
    rows = harmonized[(harmonized["collection"] == "studies") & (harmonized["kind"] != "descriptive")]
    used_records = {r for ids in comparisons.loc[comparisons["used"], "record_ids"] for r in ids}
    out = []
    reasons_here: dict[tuple, list] = {}   # not_used_reason per study x outcome x timepoint (a groupby was slow)
    columns = ("study_id", "outcome", "timepoint_text", "not_used_reason")
    for *key, reason in zip(*(comparisons[c].tolist() for c in columns)):
        if not any(pd.isna(part) for part in key):   # as groupby, which drops missing keys
            reasons_here.setdefault(tuple(key), []).append(reason)
    grouped: dict[tuple, list[dict]] = {}
    for record in _records(rows[["study_id", "outcome", "timepoint_text", "timepoint_kind", "timepoint_days", "kind", "record_id"]]):
        grouped.setdefault((record["study_id"], record["outcome"], record["timepoint_text"]), []).append(record)
    for (study_id, outcome, text), group in sorted(grouped.items()):
        first = group[0]
        window, assignment = assign_window(study_id, text, first["timepoint_kind"], first["timepoint_days"], settings)
        here = [r for r in reasons_here.get((study_id, outcome, text), []) if isinstance(r, str)]
        present = (study_id, outcome, text) in reasons_here
        record_ids = [r["record_id"] for r in group]
        if used_records.intersection(record_ids):
            status = "used"
            note = "baseline of a within-arm change" if window is None else ""
        elif assignment.startswith("baseline"):
            status, note = "baseline", "not used: no cell arm has baseline and follow-up means with SDs"
        elif window is None:
            status, note = "unassigned", ""
        elif present:
            status, note = "not used", "; ".join(dict.fromkeys(here))
        else:
            status = "no comparison"
            note = reasons.get((study_id, outcome, text)) or (
                "time-to-event summary (duration): not pooled" if first["kind"] == "duration" else "no usable numbers")
        out.append({"window_row_id": _comparison_id("window", study_id, outcome, text),
                    "study_id": study_id, "outcome": outcome, "timepoint_text": text,
                    "timepoint_kind": first["timepoint_kind"], "timepoint_days": first["timepoint_days"],
                    "window": window, "assignment": assignment, "status": status, "note": note, "record_ids": record_ids})
    return pd.DataFrame(out, columns=WINDOWS.names)


# --------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------

GROUP_KEYS = ["design", "pool_basis", "outcome", "window", "measure", "meld_key", "pre_post_correlation"]


_RMA_FIELDS = ("estimate", "se", "df", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "tau2_se", "tau2_ci_lb",
               "tau2_ci_ub", "tau", "Q", "Q_df", "Q_p", "I2", "I2_ci_lb", "I2_ci_ub", "H2", "H2_ci_lb", "H2_ci_ub",
               "converged", "iterations", "method", "method_used", "test", "level", "k")


def pool_effects(yi, vi, method: str, test: str, settings: Settings, ratio: bool = False) -> dict:
    """meta.rma on study effects, as the numeric part of a pooled-table row (ratio_*: exp for log measures)."""
    res = meta.rma(np.asarray(yi, dtype=float), np.asarray(vi, dtype=float), method=method, test=test,
                   level=settings.level, fallback=settings.fallback, predtype=settings.prediction_interval)
    return _pooled_numbers(res, settings, ratio)


def _pooled_numbers(res: meta.RmaResult, settings: Settings, ratio: bool) -> dict:
    row = {name: getattr(res, name) for name in _RMA_FIELDS}
    for name in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        row["ratio_" + name] = math.exp(row[name]) if ratio and math.isfinite(row[name]) else None
    row.update(statistic=res.zval_or_tval, pooled=res.pooled, warnings=list(res.warnings),
               prediction_interval=settings.prediction_interval, weights=list(res.weights))
    return row


@dataclass(frozen=True)
class _Pool:
    """The comparisons of one pool, sorted by study, as arrays and lists: an analysis picks its rows with a
    boolean mask (a DataFrame subset per analysis and per fit dominated the time on large corpora)."""

    frame: pd.DataFrame   # the rows, sorted by study
    yi: np.ndarray
    vi: np.ndarray
    study_ids: list[str]
    comparison_ids: list[str]
    record_ids: list       # per row
    ratio: bool

    @classmethod
    def of(cls, group: pd.DataFrame) -> _Pool:
        group = group.sort_values("study_id")   # a study appears once per pool, so this order is unique
        return cls(group, group["yi"].to_numpy(dtype=float), group["vi"].to_numpy(dtype=float),
                   group["study_id"].tolist(), group["comparison_id"].tolist(), group["record_ids"].tolist(),
                   ratio=group["measure"].iloc[0] in RATIO_MEASURES)


def fit(pool: _Pool, keep: np.ndarray, models: list[tuple[str, str]], settings: Settings) -> list[dict]:
    """One row per (method, test) in ``models``, fitted to the pool's rows picked by ``keep``, with the studies,
    comparisons and records used."""
    rows = np.flatnonzero(keep)
    results = meta.rma_models(pool.yi[rows], pool.vi[rows], models, settings.level, fallback=settings.fallback,
                              predtype=settings.prediction_interval)
    study_ids = [pool.study_ids[i] for i in rows]
    comparison_ids = [pool.comparison_ids[i] for i in rows]
    record_ids = list(dict.fromkeys(chain.from_iterable(pool.record_ids[i] for i in rows)))
    return [{**_pooled_numbers(res, settings, pool.ratio), "study_ids": list(study_ids),
             "comparison_ids": list(comparison_ids), "record_ids": list(record_ids)} for res in results]


def _fits(pool: _Pool, keep: np.ndarray, settings: Settings, all_methods: bool) -> list[dict]:
    """The configured method x test grid (main), or the default pair; k = 1 gives one unpooled row."""
    k = int(keep.sum())
    if k == 1 or not all_methods:
        return fit(pool, keep, [(settings.default_method, settings.default_test if k > 1 else "z")], settings)
    return fit(pool, keep, [(m, t) for m in settings.methods for t in settings.tests
                            if not (m == "EE" and t == "knha")], settings)   # Hartung-Knapp is not meant for EE


def _flag_codes(flags) -> set[str]:
    return {str(f).split(":")[0].strip() for f in flags}


def _subgroup_level(value, mapping: dict) -> str:
    text = "not stated" if value is None or pd.isna(value) else str(value)
    return mapping.get(text, text)


def _analyses(pool: _Pool, settings: Settings) -> list[tuple[dict, np.ndarray, bool]]:
    """[(analysis labels, mask of the pool's rows, all methods?)] for one outcome x window x measure group."""
    group = pool.frame
    everyone = np.ones(len(group), dtype=bool)
    corr = group["pre_post_correlation"].iloc[0]
    within = group["design"].iloc[0] == "within_arm"
    if within and corr != settings.pre_post_correlation:
        return [({"analysis": "sensitivity", "analysis_name": f"pre-post correlation {corr:g}"}, everyone, False)]
    out = [({"analysis": "main", "analysis_name": "main"}, everyone, True)]
    for variable, mapping in settings.subgroups.items():
        levels = np.array([_subgroup_level(v, mapping) for v in group[variable].tolist()], dtype=object)
        distinct = sorted(set(levels))
        if len(distinct) > 1:
            out += [({"analysis": "subgroup", "analysis_name": f"subgroup: {variable}", "subgroup_variable": variable,
                      "subgroup_level": level}, levels == level, False) for level in distinct]
    codes = [_flag_codes(fl) for fl in group["flags"].tolist()]
    for name, flags in settings.sensitivity_exclusions:
        keep = np.array([not (c & set(flags)) for c in codes], dtype=bool)
        if 0 < keep.sum() < len(group):
            labels = {"analysis": "sensitivity", "analysis_name": name, "excluded_flags": list(flags)}
            out.append((labels, keep, False))
    if settings.exclude_non_randomized and not within:
        keep = np.array([r == "randomized" for r in group["randomized"].tolist()], dtype=bool)
        if 0 < keep.sum() < len(group):
            labels = {"analysis": "sensitivity", "analysis_name": "exclude non-randomized (or not stated)"}
            out.append((labels, keep, False))
    # above leave_one_out_max_k studies one study moves a pool little and k refits cost k^2
    if settings.leave_one_out_min_k and settings.leave_one_out_min_k <= len(group) <= settings.leave_one_out_max_k:
        study_ids = np.array(pool.study_ids, dtype=object)
        out += [({"analysis": "leave_one_out", "analysis_name": "leave one out", "omitted_study_id": study},
                 study_ids != study, False) for study in sorted(pool.study_ids)]
    return out


def pool_comparisons(comparisons: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Pooled rows for every outcome x window x measure (x basis, design, MELD variant)."""
    if (comparisons["collection"] != "studies").any():
        raise ValueError("comparator rows (published meta-analyses) must never be pooled")
    used = comparisons[comparisons["used"]].copy()
    used["pool_basis"] = _pool_basis(used)
    meld = used["outcome"].str.startswith("meld")
    variant = used["meld_variant"].map(lambda v: _text(v) or "not_stated")
    used["meld_key"] = np.where(meld, "any" if settings.pool_across_meld_variants else variant, "")
    out = []
    for key, group in used.groupby(GROUP_KEYS, dropna=False, sort=True):
        if group["study_id"].duplicated().any():
            twice = group[["study_id", "comparison"]].to_dict("records")
            raise AssertionError(f"a study appears twice in one pool: {twice}")
        first = group.iloc[0]
        identity = {"design": first["design"], "basis": " + ".join(sorted(set(group["basis"]))), "outcome": first["outcome"],
                    "outcome_label": first["outcome_label"], "benefit": first["benefit"], "window": first["window"],
                    "measure": first["measure"], "scale": first["scale"], "unit": first["unit"],
                    "meld_variant": first["meld_key"] or None, "pre_post_correlation": first["pre_post_correlation"]}
        pool = _Pool.of(group)
        for labels, keep, all_methods in _analyses(pool, settings):
            out += [{**identity, "excluded_flags": [], **labels, **row, "pooled_id": pooled_id(key, labels, row)}
                    for row in _fits(pool, keep, settings, all_methods)]
    pooled = pd.DataFrame(out, columns=POOLED.names)
    if pooled["pooled_id"].duplicated().any():
        raise AssertionError("two pooled rows share an id: " + ", ".join(pooled.loc[pooled["pooled_id"].duplicated(), "pooled_id"]))
    return _in_reading_order(pooled, settings)


def pooled_id(group_key: tuple, labels: dict, row: dict) -> str:
    """Stable id of a pooled row: its pool (GROUP_KEYS, with the pool basis rather than the bases found, so
    adding a study keeps the id), analysis, method and test -- never the numbers or the studies pooled."""
    key = dict(zip(GROUP_KEYS, group_key))
    corr = key["pre_post_correlation"]
    key["pre_post_correlation"] = None if corr is None or pd.isna(corr) else float(corr)
    parts = [key[k] for k in GROUP_KEYS] + [labels.get(k) for k in ("analysis", "analysis_name", "subgroup_variable",
                                                                    "subgroup_level", "omitted_study_id")]
    return _comparison_id("pooled", *parts, row["method"], row["test"])


def _in_reading_order(pooled: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Outcome, design, window in time order, measure; the main analysis before its variants."""
    window_rank = {w.label: i for i, w in enumerate(settings.windows)}
    analysis_rank = {"main": 0, "subgroup": 1, "sensitivity": 2, "leave_one_out": 3}
    order = pooled.assign(_w=pooled["window"].map(window_rank), _a=pooled["analysis"].map(analysis_rank))
    order = order.sort_values(["outcome", "design", "basis", "_w", "measure", "meld_variant", "_a"], kind="stable")
    return order.drop(columns=["_w", "_a"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Comparators (published meta-analyses): shown beside ours, never pooled
# --------------------------------------------------------------------------------------

def comparators_table(harmonized: pd.DataFrame, pooled: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    published = harmonized[(harmonized["collection"] == "comparators") & harmonized["is_contrast"].astype(bool)]
    ours = pooled[(pooled["analysis"] == "main") & (pooled["design"] == "between_arms")
                  & (pooled["method"] == settings.default_method)
                  & ((pooled["test"] == settings.default_test) | (pooled["k"] == 1))]
    out = []
    for rec in _records(published):
        window, assignment = assign_window(rec["study_id"], rec["timepoint_text"], rec["timepoint_kind"],
                                           rec["timepoint_days"], settings)
        measure = REPORTED_MEASURE.get(_text(rec["effect_measure"]))
        row = {"comparator_id": _comparison_id("comparator", rec["record_id"]),
               "source": PUBLISHED, "study_id": rec["study_id"], "record_id": rec["record_id"], "outcome": rec["outcome"],
               "outcome_label": rec["outcome_label"], "timepoint_text": rec["timepoint_text"],
               "timepoint_days": rec["timepoint_days"], "window": window, "assignment": assignment,
               "published_measure": rec["effect_measure"], "published_estimate": rec["estimate"],
               "published_ci_lower": rec["ci_lower"], "published_ci_upper": rec["ci_upper"],
               "published_p_value": rec["p_value"], "published_n": rec["n"], "unit": rec["unit"],
               "flags": list(rec["flags"]), "our_measure": measure, "our_method": settings.default_method,
               "our_test": settings.default_test, "our_k": 0}
        match = ours[(ours["outcome"] == rec["outcome"]) & (ours["window"] == window) & (ours["measure"] == measure)]
        row.update(_our_estimate(match.sort_values("k", ascending=False), measure, window))
        out.append(row)
    return pd.DataFrame(out, columns=COMPARATORS.names)


def _our_estimate(match: pd.DataFrame, measure: str | None, window: str | None) -> dict:
    if measure is None or window is None:
        why = "no effect measure published" if measure is None else "timepoint in no window"
        return {"our_note": f"no estimate: {why}"}
    if match.empty:
        return {"our_note": "no estimate: no study effect in this outcome, window and measure"}
    best = match.iloc[0]
    back = math.exp if measure in RATIO_MEASURES else (lambda x: x)
    out = {"our_k": int(best["k"]), "our_study_ids": list(best["study_ids"]), "our_test": best["test"],
           "our_pooled_id": best["pooled_id"]}
    others = f"; {len(match) - 1} other pool(s) (other basis or MELD variant) not shown" if len(match) > 1 else ""
    if not best["pooled"]:
        return {**out, "our_note": f"k=1 ({best['study_ids'][0]}): not pooled{others}"}
    return {**out, "our_estimate": back(best["estimate"]), "our_ci_lb": back(best["ci_lb"]), "our_ci_ub": back(best["ci_ub"]),
            "our_I2": best["I2"], "our_note": f"main analysis, basis {best['basis']}{others}"}


# --------------------------------------------------------------------------------------
# Lineage (provenance.LINEAGE edges: output row <- input row, with the step that made it)
# --------------------------------------------------------------------------------------

EFFECT_FORMULA = {
    "MD": "MD = mean_1 - mean_2, vi = sd_1^2/n_1 + sd_2^2/n_2 (metafor escalc MD)",
    "SMD": "SMD = Hedges' g with exact J, large-sample vi (metafor escalc SMD)",
    "RR": "yi = log((events_1/total_1) / (events_2/total_2)), vi = 1/e_1 - 1/t_1 + 1/e_2 - 1/t_2 (metafor escalc RR)",
    "OR": "yi = log odds ratio, vi = sum of 1/cell (metafor escalc OR)",
    "RD": "RD = events_1/total_1 - events_2/total_2 (metafor escalc RD)",
    "MC": "MC = mean at follow-up - mean at baseline, vi = SD_change^2 / n with SD_change imputed at r = {corr:g} "
          "(Cochrane Handbook 6.5.2.8; metafor escalc MC)",
}


def _num(x) -> str:
    return "NA" if x is None or pd.isna(x) else f"{float(x):.6g}"


def _side_text(row, side: int) -> str:
    arms = list(row[f"arms_{side}"])
    combined = " combined (Cochrane Table 6.5.a)" if len(arms) > 1 else ""
    if row["measure"] in ("RR", "OR", "RD"):
        numbers = f"events {_num(row[f'events_{side}'])} / {_num(row[f'total_{side}'])}"
    else:
        numbers = f"n {_num(row[f'n_{side}'])}, mean {_num(row[f'mean_{side}'])}, SD {_num(row[f'sd_{side}'])}"
    who = {1: "side 1", 2: "side 2"}[side]
    if row["design"] == "within_arm":
        who = "follow-up" if side == 1 else "baseline"
    return f"{who} = {' + '.join(arms)}{combined}: {numbers}"


def _comparison_edges(comparisons: pd.DataFrame, harmonized: pd.DataFrame) -> list[dict]:
    """comparison <- harmonized records: the arm combination and the effect computation."""
    if harmonized["record_id"].duplicated().any():   # refused, as the set_index().to_dict("index") this replaces did
        raise ValueError("harmonized record_id is not unique")
    records = {r["record_id"]: r for r in _records(harmonized[["record_id", "arm_id", "timepoint_text"]])}
    edges = []
    for row in _records(comparisons):
        head = f"{row['comparison_type']} comparison {row['comparison']} ({row['basis']})"
        if row["source"] == "reported_effect":
            scale = ("yi = log(estimate), vi = ((log(upper) - log(lower)) / (2 x 1.96))^2" if row["measure"] in RATIO_MEASURES
                     else "yi = estimate, vi = ((upper - lower) / (2 x 1.96))^2")
            texts = {None: f"{head}: {row['measure']} and 95% CI as reported by the study; {scale}"}
        else:
            formula = EFFECT_FORMULA[row["measure"]].format(corr=row["pre_post_correlation"] or 0)
            note = f"; {row['note']}" if _text(row["note"]) else ""
            texts = {side: f"{head}: {formula}; {_side_text(row, side)}{note}" for side in (1, 2)}
        by_side: dict = {1: [], 2: [], None: []}
        for record_id in row["record_ids"]:
            record = records.get(record_id, {})
            if None in texts:
                side = None
            elif row["design"] == "within_arm":
                side = 1 if record.get("timepoint_text") == row["timepoint_text"] else 2
            else:
                side = 1 if record.get("arm_id") in set(row["arms_1"]) else 2
            by_side[side].append(record_id)
        for side in (1, 2, None):
            edges += [{"output_id": row["comparison_id"], "output_table": "synthesis/comparisons", "input_id": record_id,
                       "input_kind": "harmonized_record", "step": "compare", "transformation": texts[side],
                       "study_id": row["study_id"]} for record_id in by_side[side]]
    return edges


def _window_text(row, settings: Settings) -> str:
    """How a comparison's timepoint was placed in its window (or why it is in none)."""
    window = _text(row["window"])
    if window is None:
        return str(row["assignment"])
    bounds = {w.label: w for w in settings.windows}.get(window)
    if "(config:" in str(row["assignment"]):
        return f"timepoint {row['timepoint_text']!r} placed in {row['assignment']}"
    span = "" if bounds is None else (f" (days {bounds.from_days:.10g}-" + ("" if bounds.to_days is None else f"{bounds.to_days:.10g}")
                                      + f", nominal {bounds.nominal_days:.10g})")
    return f"timepoint {row['timepoint_text']!r} = day {_num(row['timepoint_days'])} -> window {window}{span}"


def _analysis_text(row) -> str:
    analysis = row["analysis"]
    if analysis == "main":
        return "main analysis"
    if analysis == "subgroup":
        return f"subgroup analysis: {row['subgroup_variable']} = {row['subgroup_level']}"
    if analysis == "leave_one_out":
        return f"leave one out: without {row['omitted_study_id']}"
    return f"sensitivity analysis: {row['analysis_name']}"


def _method_text(row) -> str:
    if not row["pooled"]:
        return "k = 1: the study's own effect and CI are shown, nothing was pooled"
    model = "common-effect (EE)" if row["method"] == "EE" else f"random-effects, tau^2 by {row['method']}"
    if _text(row["method_used"]) and row["method_used"] != row["method"]:
        model += f" (did not converge: {row['method_used']} used)"
    test = "Hartung-Knapp t test" if row["test"] == "knha" else "z test"
    return (f"{model}, inverse-variance weights, {test}, {float(row['level']) * 100:g}% CI, "
            f"prediction interval {row['prediction_interval']} (livertrials.synthesis.meta.rma, metafor-equivalent)")


def _corr_key(x) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _why_left_out(comparison, pooled_row, settings: Settings) -> str:
    """Why a comparison of a pool's family is not among the rows of this pooled analysis."""
    if not comparison["used"]:
        return str(comparison["not_used_reason"] or comparison["assignment"])
    analysis = pooled_row["analysis"]
    if analysis == "leave_one_out":
        return f"study {pooled_row['omitted_study_id']} left out (leave one out)"
    if analysis == "subgroup":
        variable = pooled_row["subgroup_variable"]
        level = _subgroup_level(comparison[variable], settings.subgroups.get(variable, {}))
        return f"its {variable} is {level!r}, this subgroup is {pooled_row['subgroup_level']!r}"
    flags = sorted(_flag_codes(comparison["flags"]) & set(pooled_row["excluded_flags"]))
    if flags:
        return f"flagged {', '.join(flags)}"
    if comparison["randomized"] != "randomized":
        return f"{comparison['randomized']} ({pooled_row['analysis_name']})"
    return str(pooled_row["analysis_name"])


def _pool_edges(comparisons: pd.DataFrame, pooled: pd.DataFrame, settings: Settings) -> list[dict]:
    """pooled row <- comparisons: window assignment, pooling method and weight; and every comparison of the
    same pool that this analysis left out (step "exclude", with the reason), so an auditor sees what is missing.
    Leave-one-out rows make this O(k^2) edges for a pool of k studies, as the pooled table's comparison_ids."""
    if comparisons.empty or pooled.empty:
        return []
    frame = comparisons.copy()
    frame["pool_basis"] = _pool_basis(frame)
    meld = frame["outcome"].str.startswith("meld")
    variant = frame["meld_variant"].map(lambda v: _text(v) or "not_stated")
    frame["meld_key"] = np.where(meld, "any" if settings.pool_across_meld_variants else variant, "")
    info = {r["comparison_id"]: r for r in _records(frame)}
    window_text = {cid: _window_text(r, settings) for cid, r in info.items()}
    families: dict[tuple, list[str]] = {}
    for cid, r in info.items():   # keys built here: a None put into a float column would come back as NaN
        key = (r["design"], r["pool_basis"], r["outcome"], _text(r["window"]), r["measure"], str(r["meld_key"]),
               _corr_key(r["pre_post_correlation"]))
        families.setdefault(key, []).append(cid)
    pooled_types = {"main", "within_arm"}
    edges = []
    for row in _records(pooled):
        pool_basis = "final values or change (MD)" if row["measure"] == "MD" else row["basis"]
        key = (row["design"], pool_basis, row["outcome"], row["window"], row["measure"], _text(row["meld_variant"]) or "",
               _corr_key(row["pre_post_correlation"]))
        analysis = _analysis_text(row)
        head = f"{analysis}; {_method_text(row)}"
        members = list(row["comparison_ids"])
        edges += [{"output_id": row["pooled_id"], "output_table": "synthesis/pooled", "input_id": cid,
                   "input_kind": "comparison", "step": "pool", "study_id": info[cid]["study_id"],
                   "transformation": f"{head}; {window_text[cid]}; weight {weight:.4g}%"}
                  for cid, weight in zip(members, row["weights"])]
        member_set = set(members)
        left_out = [c for c in families.get(key, []) if c not in member_set]
        if row["analysis"] == "main":   # timepoints in no window could have been anywhere: shown with the main analysis
            left_out += [c for c in families.get(key[:3] + (None,) + key[4:], [])
                         if info[c]["comparison_type"] in pooled_types]
        edges += [{"output_id": row["pooled_id"], "output_table": "synthesis/pooled", "input_id": cid,
                   "input_kind": "comparison", "step": "exclude", "study_id": info[cid]["study_id"],
                   "transformation": f"left out of this {analysis}: {_why_left_out(info[cid], row, settings)}"}
                  for cid in left_out]
    return edges


def _window_edges(windows: pd.DataFrame) -> list[dict]:
    edges = []
    for row in _records(windows):
        note = f" ({row['note']})" if _text(row["note"]) else ""
        edges += [{"output_id": row["window_row_id"], "output_table": "synthesis/windows", "input_id": record_id,
                   "input_kind": "harmonized_record", "step": "window", "study_id": row["study_id"],
                   "transformation": f"{row['assignment']}; status: {row['status']}{note}"} for record_id in row["record_ids"]]
    return edges


def _comparator_edges(comparators: pd.DataFrame) -> list[dict]:
    edges = []
    for row in _records(comparators):
        edges.append({"output_id": row["comparator_id"], "output_table": "synthesis/comparators", "input_id": row["record_id"],
                      "input_kind": "harmonized_record", "step": "publish", "study_id": row["study_id"],
                      "transformation": f"published {row['published_measure']} shown as printed, never recomputed or "
                                        f"pooled; window: {row['assignment']}"})
        if _text(row.get("our_pooled_id")):
            edges.append({"output_id": row["comparator_id"], "output_table": "synthesis/comparators",
                          "input_id": row["our_pooled_id"], "input_kind": "pooled_estimate", "step": "match",
                          "study_id": None, "transformation": f"our estimate beside it: {row['our_note']}"})
    return edges


def synthesis_lineage(harmonized: pd.DataFrame, tables: dict[str, pd.DataFrame], settings: Settings) -> list[dict]:
    """Lineage edges of every synthesis row (provenance.LINEAGE), in table order: comparisons <- harmonized
    records, pooled <- comparisons (pool / exclude), windows <- records, comparators <- record and our pooled row."""
    return (_comparison_edges(tables["comparisons"], harmonized)
            + _pool_edges(tables["comparisons"], tables["pooled"], settings)
            + _window_edges(tables["windows"])
            + _comparator_edges(tables["comparators"]))


# --------------------------------------------------------------------------------------
# Entry point (rule synthesize)
# --------------------------------------------------------------------------------------

def synthesize(harmonized_path, characteristics_path, registry_path, config: dict, outputs: dict[str, Path],
               metadata: dict[str, str] | None = None) -> dict:
    """Build and write the four synthesis tables (and, if ``outputs`` has "lineage", their lineage edges);
    returns them as DataFrames. ``metadata`` (the run manifest) is embedded in every Parquet file written."""
    settings = Settings.from_config(config)
    harmonized = read_table(harmonized_path)
    characteristics = read_table(characteristics_path)
    registry = load_registry(str(registry_path))
    benefit = {k: o.benefit for k, o in registry.outcomes.items()}
    comparisons, reasons = build_comparisons(harmonized, characteristics, settings, benefit)
    tables = {
        "comparisons": comparisons,
        "windows": window_report(harmonized, comparisons, reasons, settings),
        "pooled": (pooled := pool_comparisons(comparisons, settings)),
        "comparators": comparators_table(harmonized, pooled, settings),
    }
    schemas = {"comparisons": COMPARISONS, "windows": WINDOWS, "pooled": POOLED, "comparators": COMPARATORS}
    extra = {"livertrials.synthesis.core.settings": settings.as_json(), **(metadata or {})}
    for name, frame in tables.items():
        write_table(to_table(frame, schemas[name]), outputs[name], metadata=extra)
    if "lineage" in outputs:
        from livertrials.provenance.core import lineage_table
        write_table(lineage_table(synthesis_lineage(harmonized, tables, settings)), outputs["lineage"], metadata=extra)
    _print_summary(tables)
    return tables


def _print_summary(tables: dict) -> None:
    comparisons, pooled = tables["comparisons"], tables["pooled"]
    print(f"comparisons: {len(comparisons)} effect rows, {int(comparisons['used'].sum())} used")
    print(f"pooled rows: {len(pooled)} ({int(pooled['pooled'].sum())} with k >= 2)")
    for warning in sorted({w for ws in pooled["warnings"] for w in ws if not w.startswith("k=1")}):
        print("WARNING:", warning)
    print(tables["windows"]["status"].value_counts().to_string())
