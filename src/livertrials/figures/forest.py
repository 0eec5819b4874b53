"""Forest and funnel plots of the pooled analyses (conventions of metafor ``forest.rma`` / RevMan).

Drawn from ``results/synthesis/pooled.parquet`` and ``comparisons.parquet``; nothing is
recomputed here. One forest per outcome x window x measure (x design, basis, MELD variant)
of the main analysis, one per subgroup variable where subgroup rows exist, and one per
mortality/survival outcome across windows. Every figure drawn is listed in a manifest
(``index.json``) because the set depends on the data.

Conventions: squares have area proportional to the weight, lines are CIs, the diamond is the
pooled estimate (centre and CI), the dotted line the prediction interval; ratio measures are
drawn on a log axis labelled on the ratio scale; annotations have 2 decimals. A pool with more
studies than ``max_rows`` is drawn without its study rows (it would be unreadable).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from matplotlib import transforms  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from livertrials.io.atomic import write_text  # noqa: E402
from livertrials.figures.files import in_processes, save_figure  # noqa: E402
from livertrials.io.tables import read_table  # noqa: E402

RATIO = ("RR", "OR", "HR")
MEASURE_NAMES = {"MD": "Mean difference", "SMD": "Standardised mean difference (Hedges' g)",
                 "MC": "Mean change from baseline", "RR": "Risk ratio", "OR": "Odds ratio",
                 "RD": "Risk difference", "HR": "Hazard ratio"}
METHOD_NAMES = {"EE": "common effect", "DL": "DerSimonian-Laird", "HE": "Hedges", "HS": "Hunter-Schmidt",
                "HSk": "Hunter-Schmidt (k-corrected)", "SJ": "Sidik-Jonkman", "ML": "ML", "REML": "REML",
                "EB": "empirical Bayes", "PM": "Paule-Mandel", "PMM": "median-unbiased Paule-Mandel"}
TEST_NAMES = {"z": "z", "knha": "Hartung-Knapp"}
STUDY_BLUE, SUMMARY_DARK, SUBGROUP_GREY = "#0072B2", "#333333", "#999999"   # Okabe-Ito blue; greys
IDENTITY = ["design", "basis", "outcome", "window", "measure", "meld_variant", "pre_post_correlation"]
KEY_FIELDS = ["analysis", "analysis_name", *IDENTITY, "subgroup_variable", "subgroup_level", "omitted_study_id",
              "method", "test"]
LINE_IN = 0.24          # height of one text line, inches
CHAR_IN = 0.062         # width of one character at 8 pt (DejaVu Sans, a little generous)
PLOT_IN = 3.2           # width of the plot column, inches

plt.rcParams.update({"svg.hashsalt": "livertrials", "font.size": 8})


# --------------------------------------------------------------------------------------
# What to draw
# --------------------------------------------------------------------------------------

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
    overall: dict | None = None  # drawn under the blocks (subgroup forests: the main analysis)
    max_rows: int | None = None  # more studies than this: the study rows are not drawn (unreadable anyway)

    @property
    def k_total(self) -> int:
        return sum(len(b.studies) for b in self.blocks)

    @property
    def collapsed(self) -> bool:
        return self.max_rows is not None and self.k_total > self.max_rows

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


def pooled_key(row: dict) -> str:
    """The pooled row's id: pooled_id when synthesis writes one, else a stable hash of what the row is."""
    if _text(row.get("pooled_id")):
        return str(row["pooled_id"])
    ident = {k: _plain(row.get(k)) for k in KEY_FIELDS}
    return "pooled-" + hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _plain(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _text(x) -> str:
    return "" if _plain(x) is None else str(x)


def synthesis_settings(pooled_path: Path) -> dict:
    """The settings the pooled table was made with (stored in its Parquet metadata)."""
    meta = pq.read_schema(pooled_path).metadata or {}
    raw = meta.get(b"livertrials.synthesis.settings")
    return json.loads(raw) if raw else {"default_method": "REML", "default_test": "z", "windows": []}


def default_rows(pooled: pd.DataFrame, analysis: str, settings: dict) -> pd.DataFrame:
    """Rows fitted with the default estimator and test (k = 1 rows carry test z whatever the default)."""
    rows = pooled[(pooled["analysis"] == analysis) & (pooled["method"] == settings["default_method"])]
    return rows[(rows["test"] == settings["default_test"]) | (rows["k"] == 1)]


def _fmt(x, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:.{digits}f}".replace("-", "−")   # a real minus sign reads better in print


def _count(x) -> str:
    return "–" if x is None or not np.isfinite(x) else (f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}")


def _sides(c: dict) -> tuple[tuple[str, str], tuple[str, str]]:
    out = []
    for s in (1, 2):
        if np.isfinite(c.get(f"events_{s}", np.nan)):
            out.append((_count(c[f"events_{s}"]), _count(c[f"total_{s}"])))
        elif np.isfinite(c.get(f"mean_{s}", np.nan)):
            out.append((f"{_fmt(c[f'mean_{s}'])} ({_fmt(c[f'sd_{s}'])})", _count(c[f"n_{s}"])))
        else:
            out.append(("–", _count(c.get(f"n_{s}", np.nan))))
    return out[0], out[1]


def _weights(row: dict) -> dict[str, float | None]:
    """Weight (percent) of each comparison in a pooled row; None when nothing was pooled (k = 1)."""
    ids = list(row["comparison_ids"])
    return dict(zip(ids, row["weights"])) if row["k"] > 1 else dict.fromkeys(ids)


def study_lines(pooled_row: dict, by_id: dict[str, dict], weights_from: dict | None = None) -> list[StudyLine]:
    """The studies of one pooled row, in its order, with their weights in ``weights_from`` (default: that row).

    by_id: comparisons.parquet rows by comparison_id (see comparison_rows).
    """
    weights = _weights(weights_from if weights_from is not None else pooled_row)
    lines = []
    for cid in pooled_row["comparison_ids"]:
        weight = weights.get(cid)
        c = by_id[cid]
        s1, s2 = _sides(c)
        lines.append(StudyLine(c["study_id"], cid, _text(c["timepoint_text"]), s1, s2, c["yi"], c["ci_lb"], c["ci_ub"],
                               weight, c["se"]))
    return lines


def _stem(readable: list, identity: list) -> str:
    """File stem: readable parts, plus a short hash of the full identity so two pools never share a name."""
    slug = "_".join("".join(ch if ch.isalnum() else "-" for ch in _text(p)).strip("-") for p in readable if _text(p))
    digest = hashlib.sha1(json.dumps([_plain(p) for p in identity], default=str).encode()).hexdigest()[:6]
    return f"forest_{slug}_{digest}"


def _window_rank(settings: dict) -> dict:
    return {w["label"]: i for i, w in enumerate(settings.get("windows", []))}


def comparison_rows(comparisons: pd.DataFrame) -> dict[str, dict]:
    """comparisons.parquet as one dict per comparison_id: a pool at 1,000 studies looks up thousands of them."""
    return dict(zip(comparisons["comparison_id"], comparisons.to_dict("records")))


def forest_specs(pooled: pd.DataFrame, comparisons: pd.DataFrame, settings: dict,
                 across_windows_outcomes=("death", "survival"), across_windows_measure: str = "RR",
                 max_rows: int | None = None, measures=None) -> list[ForestSpec]:
    """Every forest to draw: main analyses, their subgroup variables, and mortality/survival across windows.

    measures: effect measures that get main and subgroup forests (None: all); the others stay in the tables."""
    main = default_rows(pooled, "main", settings)
    subgroups = default_rows(pooled, "subgroup", settings)
    by_id = comparison_rows(comparisons)
    drawn = main if measures is None else main[main["measure"].isin(list(measures))]
    specs = []
    for row in drawn.to_dict("records"):
        ident = [row[k] for k in IDENTITY]
        block = Block(None, study_lines(row, by_id), row)
        specs.append(_spec("main", _stem([row["outcome"], row["window"], row["measure"]], ident),
                           row, [block], None, ""))
        same = subgroups[np.logical_and.reduce([_same(subgroups[k], row[k]) for k in IDENTITY])]
        for variable, levels in same.groupby("subgroup_variable", sort=True):
            # weights from the overall model, as RevMan does, so that the column adds up to the overall 100%
            blocks = [Block(f"{variable}: {lvl['subgroup_level']}", study_lines(lvl, by_id, row), lvl)
                      for lvl in levels.sort_values("subgroup_level").to_dict("records")]
            stem = _stem([row["outcome"], row["window"], row["measure"], "by", variable], [*ident, variable])
            specs.append(_spec("subgroup", stem, row, blocks, row, f"subgroups by {variable}"))
    rank = _window_rank(settings)
    for outcome in across_windows_outcomes:
        rows = main[(main["outcome"] == outcome) & (main["measure"] == across_windows_measure)
                    & (main["design"] == "between_arms")]
        if rows["window"].nunique() < 2:    # one window: the main forest already shows it
            continue
        rows = sorted(rows.to_dict("records"), key=lambda r: rank.get(r["window"], 99))
        blocks = [Block(f"{r['window']}", study_lines(r, by_id), r) for r in rows]
        stem = _stem([outcome, "all-windows", across_windows_measure], [outcome, across_windows_measure])
        specs.append(_spec("across_windows", stem, rows[0], blocks, None, "every analysis window"))
    for spec in specs:
        spec.max_rows = max_rows
    return specs


def _same(column: pd.Series, value) -> pd.Series:
    return column.isna() if _plain(value) is None else column == value


def _spec(kind: str, stem: str, row: dict, blocks: list[Block], overall: dict | None, extra: str) -> ForestSpec:
    unit = _text(row.get("unit")) or None
    measure = row["measure"]
    what = MEASURE_NAMES.get(measure, measure) + (f" ({unit})" if unit and measure in ("MD", "MC") else "")
    window = "all windows" if kind == "across_windows" else row["window"]
    if row["design"] == "within_arm":
        design = f"cell arms, follow-up vs baseline (pre-post correlation {row['pre_post_correlation']:g})"
    else:
        design = "cell therapy vs control"
    meld = f"; MELD variant {row['meld_variant']}" if _text(row.get("meld_variant")) else ""
    subtitle = f"{what}; {design}; basis: {row['basis']}{meld.replace('_', ' ')}" + (f"; {extra}" if extra else "")
    return ForestSpec(stem, kind, f"{row['outcome_label']}, {window}", subtitle, measure, _text(row["benefit"]),
                      row["design"], unit, blocks, overall)


# --------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------

def _side_names(design: str) -> tuple[str, str]:
    return ("Follow-up", "Baseline") if design == "within_arm" else ("Cell therapy", "Control")


def favours(design: str, benefit: str) -> tuple[str, str]:
    """(left, right) labels under the axis: effects are side 1 minus (or over) side 2."""
    if design == "within_arm":
        better, worse = "Improved after cells", "Worsened after cells"
    else:
        better, worse = "Favours cells", "Favours control"
    if benefit == "higher":
        return worse, better
    if benefit == "lower":
        return better, worse
    low, high = (("Lower after cells", "Higher after cells") if design == "within_arm"
                 else ("Lower with cells", "Higher with cells"))
    return low, high


def _scale(spec: ForestSpec):
    """Function from the stored (log for ratios) scale to the plotted scale."""
    return np.exp if spec.ratio else (lambda x: x)


def _model_label(row: dict) -> str:
    if row["method"] == "EE":
        return f"Common-effect model ({TEST_NAMES.get(row['test'], row['test'])})"
    used = row["method_used"] if row["method_used"] == row["method"] else f"{row['method']} → {row['method_used']}"
    return f"Random-effects model ({used}, {TEST_NAMES.get(row['test'], row['test'])})"


def _p(p) -> str:
    if p is None or not np.isfinite(p):
        return "–"
    return "p < 0.001" if p < 0.001 else (f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}")


def heterogeneity_text(row: dict) -> str:
    return (f"Heterogeneity: τ² = {_fmt(row['tau2'])}; I² = {_fmt(row['I2'], 0)}%; "
            f"Q = {_fmt(row['Q'])} (df = {int(row['Q_df'])}), {_p(row['Q_p'])}")


def overall_test_text(row: dict) -> str:
    stat = f"t({row['df']:.0f})" if row["test"] == "knha" and np.isfinite(row["df"]) else "z"
    return f"Test for overall effect: {stat} = {_fmt(row['statistic'])}, {_p(row['pval'])}"


def method_text(spec: ForestSpec) -> str:
    row = spec.main_row
    if not any(b.pooled["pooled"] for b in spec.blocks) and spec.overall is None:
        return (f"k = 1 in every block: nothing pooled; each study's own estimate with its {100 * row['level']:g}% "
                f"Wald CI. Pooling settings: {_model_label(row)}" + ("; ratios on a log axis." if spec.ratio else "."))
    level = f"{100 * row['level']:g}%"
    model = _model_label(row)
    pi = {"default": "metafor predict()", "riley": "Riley, t with k−2 df"}.get(row["prediction_interval"],
                                                                             row["prediction_interval"])
    ratio = "; ratios on a log axis" if spec.ratio else ""
    return (f"{model}, τ² by {METHOD_NAMES.get(row['method_used'], row['method_used'])}; {level} CIs; prediction "
            f"interval: {pi}. Squares: area ∝ weight{ratio}.")


def _effect(scale, est, lo, hi) -> str:
    return f"{_fmt(scale(est))} [{_fmt(scale(lo))}, {_fmt(scale(hi))}]"


def _lines(spec: ForestSpec) -> list[tuple[str, object]]:
    """The rows of the figure, top to bottom: (kind, payload)."""
    out: list[tuple[str, object]] = []
    if spec.collapsed:
        out.append(("note", f"{spec.k_total} studies: rows not drawn (more than {spec.max_rows}); "
                            "see the funnel plot and the pooled-results table"))
    for block in spec.blocks:
        if block.title:
            out.append(("title", block.title))
        out += [] if spec.collapsed else [("study", s) for s in block.studies]
        out += _summary_lines(block.pooled, block.studies, subgroup=spec.overall is not None)
        out.append(("gap", None))
    if spec.overall is not None:
        out += _summary_lines(spec.overall, [s for b in spec.blocks for s in b.studies], subgroup=False, label="Overall")
    while out and out[-1][0] == "gap":
        out.pop()
    return out


def _summary_lines(row: dict, studies: list[StudyLine], subgroup: bool, label: str = "") -> list:
    if not row["pooled"]:
        return [("note", "k = 1: not pooled")]
    out = [("diamond", (row, studies, subgroup, label))]
    if np.isfinite(row["pi_lb"]):
        out.append(("pi", row))
    out += [("text", heterogeneity_text(row)), ("text", overall_test_text(row))]
    return out


def _columns(spec: ForestSpec, lines) -> dict[str, tuple[float, float]]:
    """x position (inches, left edge) and width of every text column, sized to its longest entry."""
    studies = [p for k, p in lines if k == "study"]
    events = spec.events

    def width(texts, minimum):
        return max([minimum] + [len(t) * CHAR_IN + 0.15 for t in texts])

    labels = [s.study_id for s in studies] + [p if isinstance(p, str) else "" for k, p in lines if k == "title"]
    summary = [p[3] or _model_label(p[0]) for k, p in lines if k == "diamond"]
    widths = {"study": width(labels + summary, 1.3),
              "time": width([s.timepoint for s in studies] + ["Timepoint"], 0.7),
              "v1": width([s.side_1[0] for s in studies] + ["Mean (SD)"], 0.6 if events else 1.0),
              "n1": 0.45,
              "v2": width([s.side_2[0] for s in studies] + ["Mean (SD)"], 0.6 if events else 1.0),
              "n2": 0.45,
              "plot": PLOT_IN + 0.3,
              "effect": width([_effect(_scale(spec), s.yi, s.ci_lb, s.ci_ub) for s in studies], 1.55),
              "weight": 0.65}
    # the heterogeneity lines run under the left columns; make sure they fit there
    left = sum(widths[k] for k in ("study", "time", "v1", "n1", "v2", "n2"))
    longest = max([len(p) * CHAR_IN * 0.95 for k, p in lines if k == "text"] + [0])
    widths["study"] += max(0.0, longest - left)
    x, out = 0.1, {}
    for name, w in widths.items():
        out[name] = (x, w)
        x += w
    return out


def _limits(spec: ForestSpec, lines) -> tuple[float, float]:
    """x range covering every CI, diamond, prediction interval and the reference line (stored scale)."""
    values = [0.0]
    for kind, p in lines:
        if kind == "study":
            values += [p.ci_lb, p.ci_ub]
        elif kind == "diamond":
            values += [p[0]["ci_lb"], p[0]["ci_ub"]]
        elif kind == "pi":
            values += [p["pi_lb"], p["pi_ub"]]
    values = [v for v in values if np.isfinite(v)]
    lo, hi = min(values), max(values)
    pad = 0.06 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def _ratio_ticks(lo: float, hi: float) -> list[float]:
    """Ticks on the ratio scale inside [exp(lo), exp(hi)]: the richest 'round' series giving 3 to 7 ticks."""
    decades = [10.0 ** e for e in range(-4, 5)]
    series = ([d * m for d in decades for m in (1, 2, 5)],            # 0.1 0.2 0.5 1 2 5 10
              [d * m for d in decades for m in (1, 5)] + [2.0],        # 0.1 0.5 1 2 5 10
              decades)                                                 # 0.01 0.1 1 10 100
    for candidates in series:
        ticks = sorted(t for t in candidates if math.exp(lo) <= t <= math.exp(hi))
        if 3 <= len(ticks) <= 7:
            return ticks
    if len(ticks) > 7:
        return ticks[::2]
    return sorted({float(f"{t:.2g}") for t in np.geomspace(math.exp(lo), math.exp(hi), 5)[1:-1]} | {1.0})


def draw_forest(spec: ForestSpec):
    """The forest plot as a matplotlib Figure (callers save or inspect it)."""
    lines = _lines(spec)
    cols = _columns(spec, lines)
    header_lines, foot_in = 2, 1.05
    width = sum(w for _, w in cols.values()) + 0.2
    height = (len(lines) + header_lines) * LINE_IN + foot_in + 0.75
    fig = plt.figure(figsize=(width, height))
    px, pw = cols["plot"]
    ax = fig.add_axes([(px + 0.15) / width, foot_in / height, PLOT_IN / width,
                       (len(lines) + header_lines) * LINE_IN / height])
    ax.set_ylim(len(lines) - 0.5, -header_lines - 0.5)       # row i at y = i, headers above 0
    scale = _scale(spec)
    lo, hi = _limits(spec, lines)
    if spec.ratio:
        ax.set_xscale("log")
        ax.set_xlim(math.exp(lo), math.exp(hi))
        ticks = _ratio_ticks(lo, hi)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    else:
        ax.set_xlim(lo, hi)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_yticks([])
    ax.spines["bottom"].set_bounds(*ax.get_xlim())

    text_at = transforms.blended_transform_factory(fig.transFigure, ax.transData)

    def put(col, y: float, text: str, align: str = "left", **kw):
        """Text in a column (or centred over a pair of columns) at row y."""
        first, last = (col, col) if isinstance(col, str) else col
        x, w = cols[first][0], cols[last][0] + cols[last][1] - cols[first][0]
        pos = {"left": x, "right": x + w - 0.1, "center": x + (w - 0.1) / 2}[align]
        fig.text(pos / width, y, text, transform=text_at, ha=align, va="center", **kw)

    _headers(spec, put)
    first_study = next((i for i, (k, _) in enumerate(lines) if k == "study"), 0)
    ax.axvline(scale(0.0), ymin=0, ymax=1 - (first_study + header_lines - 0.5) / (len(lines) + header_lines),
               color="#777777", lw=0.8, zorder=0)
    smax = (0.62 * LINE_IN * 72) ** 2                           # largest square: 62% of a line, in pt²
    for y, (kind, p) in enumerate(lines):
        if kind == "study":
            _study(ax, put, y, p, scale, smax, spec)
        elif kind == "diamond":
            _diamond(ax, put, y, p, scale, spec)
        elif kind == "pi":
            ax.hlines(y, scale(p["pi_lb"]), scale(p["pi_ub"]), colors=SUMMARY_DARK, linestyles=":", lw=1.4,
                      gid=f"prediction-interval-{y}")
            ax.vlines([scale(p["pi_lb"]), scale(p["pi_ub"])], y - 0.15, y + 0.15, colors=SUMMARY_DARK, lw=1)
            put("study", y, f"{100 * p['level']:g}% prediction interval", fontsize=7.5)
            put("effect", y, f"[{_fmt(scale(p['pi_lb']))}, {_fmt(scale(p['pi_ub']))}]")
        elif kind == "title":
            put("study", y, p, fontweight="bold")
        elif kind == "text":
            put("study", y, p, fontsize=7.5, color="#444444")
        elif kind == "note":
            put("study", y, p, fontstyle="italic", color="#444444", gid=f"k1-note-{y}")
    _axis_labels(fig, ax, spec, width, height, foot_in)
    return fig


def _headers(spec: ForestSpec, put) -> None:
    s1, s2 = _side_names(spec.design)
    value = "Events" if spec.events else "Mean (SD)"
    bold = {"fontweight": "bold"}
    put(("v1", "n1"), -2, s1, "center", **bold)
    put(("v2", "n2"), -2, s2, "center", **bold)
    put("study", -1, "Study", **bold)
    put("time", -1, "Timepoint", **bold)
    put("v1", -1, value, "right", **bold)
    put("v2", -1, value, "right", **bold)
    put("n1", -1, "N", "right", **bold)
    put("n2", -1, "N", "right", **bold)
    put("effect", -1, f"{spec.measure} [{100 * spec.main_row['level']:g}% CI]", **bold)
    put("weight", -1, "Weight", "right", **bold)


def _study(ax, put, y: int, s: StudyLine, scale, smax: float, spec: ForestSpec) -> None:
    ax.hlines(y, scale(s.ci_lb), scale(s.ci_ub), colors="black", lw=0.9)
    weights = [x.weight for b in spec.blocks for x in b.studies if x.weight is not None]
    # area ∝ weight (the largest fills 62% of a line); a floor keeps tiny weights visible; k = 1: a medium square
    area = smax * 0.35 if s.weight is None else max(smax * s.weight / max(weights), 6.0)
    ax.scatter([scale(s.yi)], [y], s=area, marker="s", color=STUDY_BLUE, zorder=3, linewidths=0,
               gid=f"square-{s.comparison_id}")
    put("study", y, s.study_id)
    put("time", y, s.timepoint, color="#444444")
    put("v1", y, s.side_1[0], "right")
    put("n1", y, s.side_1[1], "right")
    put("v2", y, s.side_2[0], "right")
    put("n2", y, s.side_2[1], "right")
    put("effect", y, _effect(scale, s.yi, s.ci_lb, s.ci_ub))
    put("weight", y, f"{s.weight:.1f}%" if s.weight is not None else "–", "right")


def _diamond(ax, put, y: int, payload, scale, spec: ForestSpec) -> None:
    row, studies, subgroup, label = payload
    est, lo, hi = scale(row["estimate"]), scale(row["ci_lb"]), scale(row["ci_ub"])
    colour = SUBGROUP_GREY if subgroup else SUMMARY_DARK
    ax.add_patch(Polygon([(lo, y), (est, y - 0.38), (hi, y), (est, y + 0.38)], closed=True, facecolor=colour,
                         edgecolor=SUMMARY_DARK, lw=0.8, zorder=4,
                         gid=f"{'subgroup' if subgroup else 'pooled'}-diamond-{y}"))
    name = f"{label}: {_model_label(row)}" if label else _model_label(row)
    put("study", y, name, fontweight="bold")
    for side, ncol in ((1, "n1"), (2, "n2")):
        values = [s.side_1 if side == 1 else s.side_2 for s in studies]
        total = sum(float(v[1]) for v in values if v[1] != "–")
        put(ncol, y, _count(total), "right", fontweight="bold")
    put("effect", y, _effect(scale, row["estimate"], row["ci_lb"], row["ci_ub"]), fontweight="bold")
    put("weight", y, "100.0%" if not subgroup else "", "right", fontweight="bold")


def _axis_labels(fig, ax, spec: ForestSpec, width: float, height: float, foot_in: float) -> None:
    left, right = favours(spec.design, spec.benefit)
    ref = 1.0 if spec.ratio else 0.0
    below = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    drop = -0.3 / (ax.get_position().height * height)        # under the tick labels
    ax.text(ref, drop, f"← {left}  ", transform=below, ha="right", va="top", fontsize=7.5)
    ax.text(ref, drop, f"  {right} →", transform=below, ha="left", va="top", fontsize=7.5)
    scale_note = " (log scale)" if spec.ratio else ""
    unit = f" ({spec.unit})" if spec.unit and spec.measure in ("MD", "MC") else ""
    ax.set_xlabel(f"{MEASURE_NAMES.get(spec.measure, spec.measure)}{unit}{scale_note}", labelpad=20)
    fig.text(0.1 / width, 1 - 0.22 / height, spec.title, fontsize=11, fontweight="bold", va="top")
    fig.text(0.1 / width, 1 - 0.48 / height, spec.subtitle, fontsize=8, color="#444444", va="top")
    fig.text(0.1 / width, 0.12 / height, method_text(spec), fontsize=7.5, color="#444444", va="bottom")


# --------------------------------------------------------------------------------------
# Funnel plot
# --------------------------------------------------------------------------------------

def funnel_reason(k: int, min_k: int) -> str | None:
    """Why no funnel plot is drawn, or None if one is."""
    if k >= min_k:
        return None
    return (f"No funnel plot: k = {k} < {min_k} studies, too few to judge small-study effects or publication "
            "bias (Cochrane Handbook, chapter 13: funnel plots and asymmetry tests need at least 10 studies).")


def draw_funnel(spec: ForestSpec):
    """Effect against its standard error (SE axis reversed), with the pseudo 95% region around the pooled estimate."""
    row = spec.main_row
    studies = [s for b in spec.blocks for s in b.studies]
    se = np.array([s.se for s in studies])
    yi = np.array([s.yi for s in studies])
    scale = _scale(spec)
    fig, ax = plt.subplots(figsize=(5.0, 4.2))
    top = max(se) * 1.08
    grid = np.linspace(0, top, 50)
    est = row["estimate"]
    ax.fill_betweenx(grid, scale(est - 1.96 * grid), scale(est + 1.96 * grid), color="#EEEEEE", lw=0, zorder=0)
    ax.plot(scale(est - 1.96 * grid), grid, ":", color="#777777", lw=0.9)
    ax.plot(scale(est + 1.96 * grid), grid, ":", color="#777777", lw=0.9)
    ax.axvline(scale(est), color=SUMMARY_DARK, lw=0.9)
    ax.scatter(scale(yi), se, s=22, color=STUDY_BLUE, zorder=3, gid="funnel-points")
    ax.set_ylim(top, 0)
    if spec.ratio:
        ax.set_xscale("log")
    ax.set_ylabel("Standard error")
    ax.set_xlabel(MEASURE_NAMES.get(spec.measure, spec.measure) + (" (log scale)" if spec.ratio else ""))
    ax.set_title(f"{spec.title}: funnel plot (k = {len(studies)})", fontsize=9, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------

def manifest_entry(spec: ForestSpec, files: dict, funnel: dict | None, reason: str | None, funnel_min_k: int) -> dict:
    """What the report needs about one forest: its settings, rows and ids (for provenance links)."""
    row = spec.main_row
    summaries = [{"label": b.title or "pooled", "pooled_key": pooled_key(b.pooled), "k": int(b.pooled["k"]),
                  "pooled": bool(b.pooled["pooled"]), "analysis_name": b.pooled["analysis_name"]} for b in spec.blocks]
    if spec.overall is not None:
        summaries.append({"label": "overall", "pooled_key": pooled_key(spec.overall), "k": int(spec.overall["k"]),
                          "pooled": bool(spec.overall["pooled"]), "analysis_name": "main"})
    rows = [{"block": b.title, "study_id": s.study_id, "comparison_id": s.comparison_id, "timepoint": s.timepoint,
             "effect": _effect(_scale(spec), s.yi, s.ci_lb, s.ci_ub),
             "weight": None if s.weight is None else round(s.weight, 4)} for b in spec.blocks for s in b.studies
            if not spec.collapsed]       # a collapsed forest lists no rows: the report shows none either
    return {"id": spec.id, "kind": spec.kind, "title": spec.title, "subtitle": spec.subtitle,
            **{k: _plain(row.get(k)) for k in (*IDENTITY, "outcome_label", "benefit", "scale", "unit", "method",
                                               "method_used", "test", "level", "prediction_interval")},
            "window": "all windows" if spec.kind == "across_windows" else row["window"],
            "k": int(row["k"]), "pooled": bool(row["pooled"]), "method_text": method_text(spec),
            "favours": list(favours(spec.design, spec.benefit)), "rows": rows, "summaries": summaries,
            "files": files, "funnel": funnel, "funnel_reason": reason, "funnel_min_k": funnel_min_k,
            "collapsed": spec.collapsed, "k_total": spec.k_total}


def draw_all(pooled_path: Path, comparisons_path: Path, out_dir: Path, manifest_path: Path, formats: list[str],
             funnel_min_k: int = 10, across_windows_outcomes=("death", "survival"),
             across_windows_measure: str = "RR", max_rows: int | None = 80, measures=None,
             processes: int = 1) -> list[dict]:
    """Draw every forest (and funnel where k >= funnel_min_k) into out_dir; write the manifest.

    processes > 1 draws in that many forked worker processes (text rendering is the cost, and
    each figure is independent); the files and the manifest are the same either way."""
    settings = synthesis_settings(pooled_path)
    pooled, comparisons = read_table(pooled_path), read_table(comparisons_path)
    specs = forest_specs(pooled, comparisons, settings, across_windows_outcomes, across_windows_measure, max_rows,
                         measures)
    drawn = in_processes(lambda i: _draw_one(specs[i], out_dir, formats, funnel_min_k), len(specs), processes)
    entries = [manifest_entry(spec, *files, funnel_min_k) for spec, files in zip(specs, drawn)]
    # file names in the manifest are relative to "directory", itself relative to the manifest: the tree can move
    manifest = {"directory": os.path.relpath(out_dir, manifest_path.parent), "funnel_min_k": funnel_min_k,
                "max_rows": max_rows, "measures": None if measures is None else list(measures),
                "settings": {k: settings.get(k) for k in ("default_method", "default_test")}, "forests": entries}
    write_text(manifest_path, json.dumps(manifest, indent=1, sort_keys=True, default=_json_default) + "\n")
    print(f"{len(entries)} forest plots drawn ({sum(e['funnel'] is not None for e in entries)} funnel plots)")
    return entries


def _draw_one(spec: ForestSpec, out_dir: Path, formats: list[str], funnel_min_k: int) -> tuple[dict, dict | None, str | None]:
    """Draw one forest (and its funnel): its files, the funnel's files and the reason when there is no funnel."""
    files = save_figure(draw_forest(spec), out_dir, spec.id, formats)
    reason = funnel_reason(int(spec.main_row["k"]), funnel_min_k) if spec.kind == "main" else None
    funnel = None
    if spec.kind == "main" and reason is None:
        funnel = save_figure(draw_funnel(spec), out_dir, spec.id.replace("forest_", "funnel_", 1), formats)
    return files, funnel, reason


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)
