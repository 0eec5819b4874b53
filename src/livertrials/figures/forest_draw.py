"""Drawing the forest and funnel plots of a ForestSpec (conventions of metafor ``forest.rma`` / RevMan).

Squares have area proportional to the weight, lines are CIs, the diamond is the pooled estimate
(centre and CI), the dotted line the prediction interval; ratio measures are drawn on a log axis
labelled on the ratio scale. A collapsed spec (more studies than ``max_rows``) is drawn without its
study rows. Text columns are sized to their longest entry, so the figure width follows the data.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import transforms  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from livertrials.figures.files import FOREST_STYLE  # noqa: E402
from livertrials.figures.forest_specs import (  # noqa: E402
    MEASURE_NAMES,
    ForestSpec,
    StudyLine,
    count_text,
    effect_text,
    favours,
    heterogeneity_text,
    measure_text,
    method_text,
    model_label,
    number_text,
    overall_test_text,
    plot_scale,
    subgroup_difference_text,
)

STUDY_BLUE, SUMMARY_DARK, SUBGROUP_GREY = "#0072B2", "#333333", "#999999"   # Okabe-Ito blue; greys
LINE_IN = 0.24          # height of one text line, inches
CHAR_IN = 0.062         # width of one character at 8 pt (DejaVu Sans, a little generous)
PLOT_IN = 3.2           # width of the plot column, inches

plt.rcParams.update(FOREST_STYLE)


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
        out += [("text", text) for text in [subgroup_difference_text(spec)] if text]
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
    summary = [p[3] or model_label(p[0]) for k, p in lines if k == "diamond"]
    widths = {"study": width(labels + summary, 1.3),
              "time": width([s.timepoint for s in studies] + ["Timepoint"], 0.7),
              "v1": width([s.side_1[0] for s in studies] + ["Mean (SD)"], 0.6 if events else 1.0),
              "n1": 0.45,
              "v2": width([s.side_2[0] for s in studies] + ["Mean (SD)"], 0.6 if events else 1.0),
              "n2": 0.45,
              "plot": PLOT_IN + 0.3,
              "effect": width([effect_text(plot_scale(spec), s.yi, s.ci_lb, s.ci_ub) for s in studies], 1.55),
              "weight": 0.65}
    # the side names head their value and N columns: make room for them
    for (value, n), name in zip((("v1", "n1"), ("v2", "n2")), spec.sides):
        widths[value] = max(widths[value], len(name) * CHAR_IN + 0.15 - widths[n])
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
    scale = plot_scale(spec)
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
            put("effect", y, f"[{number_text(scale(p['pi_lb']))}, {number_text(scale(p['pi_ub']))}]")
        elif kind == "title":
            put("study", y, p, fontweight="bold")
        elif kind == "text":
            put("study", y, p, fontsize=7.5, color="#444444")
        elif kind == "note":
            put("study", y, p, fontstyle="italic", color="#444444", gid=f"k1-note-{y}")
    _axis_labels(fig, ax, spec, width, height, foot_in)
    return fig


def _headers(spec: ForestSpec, put) -> None:
    s1, s2 = spec.sides
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
    put("effect", y, effect_text(scale, s.yi, s.ci_lb, s.ci_ub))
    put("weight", y, f"{s.weight:.1f}%" if s.weight is not None else "–", "right")


def _diamond(ax, put, y: int, payload, scale, spec: ForestSpec) -> None:
    row, studies, subgroup, label = payload
    est, lo, hi = scale(row["estimate"]), scale(row["ci_lb"]), scale(row["ci_ub"])
    colour = SUBGROUP_GREY if subgroup else SUMMARY_DARK
    ax.add_patch(Polygon([(lo, y), (est, y - 0.38), (hi, y), (est, y + 0.38)], closed=True, facecolor=colour,
                         edgecolor=SUMMARY_DARK, lw=0.8, zorder=4,
                         gid=f"{'subgroup' if subgroup else 'pooled'}-diamond-{y}"))
    name = f"{label}: {model_label(row)}" if label else model_label(row)
    put("study", y, name, fontweight="bold")
    for side, ncol in ((1, "n1"), (2, "n2")):
        values = [s.side_1 if side == 1 else s.side_2 for s in studies]
        total = sum(float(v[1]) for v in values if v[1] != "–")
        put(ncol, y, count_text(total), "right", fontweight="bold")
    put("effect", y, effect_text(scale, row["estimate"], row["ci_lb"], row["ci_ub"]), fontweight="bold")
    put("weight", y, "100.0%" if not subgroup else "", "right", fontweight="bold")


def _axis_labels(fig, ax, spec: ForestSpec, width: float, height: float, foot_in: float) -> None:
    left, right = favours(spec.design, spec.benefit, spec.comparison)
    ref = 1.0 if spec.ratio else 0.0
    below = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    drop = -0.3 / (ax.get_position().height * height)        # under the tick labels
    ax.text(ref, drop, f"← {left}  ", transform=below, ha="right", va="top", fontsize=7.5)
    ax.text(ref, drop, f"  {right} →", transform=below, ha="left", va="top", fontsize=7.5)
    scale_note = " (log scale)" if spec.ratio else ""
    ax.set_xlabel(f"{measure_text(spec.measure, spec.unit)}{scale_note}", labelpad=20)
    fig.text(0.1 / width, 1 - 0.22 / height, spec.title, fontsize=11, fontweight="bold", va="top")
    fig.text(0.1 / width, 1 - 0.48 / height, spec.subtitle, fontsize=8, color="#444444", va="top")
    fig.text(0.1 / width, 0.12 / height, method_text(spec), fontsize=7.5, color="#444444", va="bottom")


def draw_funnel(spec: ForestSpec):
    """Effect against its standard error (SE axis reversed), with the pseudo 95% region around the pooled estimate."""
    row = spec.main_row
    studies = [s for b in spec.blocks for s in b.studies]
    se = np.array([s.se for s in studies])
    yi = np.array([s.yi for s in studies])
    scale = plot_scale(spec)
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
