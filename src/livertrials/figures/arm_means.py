"""Arm means with 95% CI over time, per outcome, from the harmonized table; ``draw_all`` is the entry of
rule figures (these and the evidence map).

Each arm is coloured by its intervention class, named by the class label of the intervention registry
(resources/registry/interventions.yaml), in the registry's order: the Okabe-Ito palette (safe for the common
colour-vision deficiencies) with a marker per class; the arm's role sets the line style (intervention solid,
control dashed), so the figures read in grey scale too.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from scipy import special  # noqa: E402

from livertrials.figures.evidence_map import evidence_map_content, evidence_map_figure  # noqa: E402
from livertrials.figures.files import (  # noqa: E402
    HARMONIZED_STYLE,
    draw_cached,
    figure_bytes,
    figure_cache,
    frame_content,
    save_figure,
)
from livertrials.io.registry import load_registry  # noqa: E402
from livertrials.io.tables import read_table  # noqa: E402

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#555555", "#D55E00", "#56B4E9", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = {"intervention": "-", "control": "--", "active_comparator": "-.", "all": ":"}
UNKNOWN = ("#555555", "o", "intervention not stated")

SMALL_MULTIPLES_MAX = 12  # above this many studies one panel per study is unreadable and slow

plt.rcParams.update(HARMONIZED_STYLE)


def mean_ci(frame: pd.DataFrame) -> pd.DataFrame:
    """95% CI of an arm mean: mean ± t(n-1) x SD / sqrt(n); no CI without SD or n."""
    n = frame["n"].astype(float)
    sd = frame["sd"].astype(float)
    df = (n - 1).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        # t quantile by scipy.special (what scipy.stats.t.ppf computes, bit for bit, without its seconds of import)
        half = np.where(df > 0, special.stdtrit(df, 0.975), np.nan) * sd / np.sqrt(n)
    return frame.assign(ci_low=frame["mean"] - half, ci_high=frame["mean"] + half)


def class_styles(registry) -> dict[str, tuple[str, str, str]]:
    """Intervention class id -> (colour, marker, label), in the order of the registry's classes."""
    return {c.id: (OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)], c.label)
            for i, c in enumerate(registry.classes.values())}


def arm_level_points(harmonized: pd.DataFrame, outcome: str) -> pd.DataFrame:
    rows = harmonized[
        (harmonized["outcome"] == outcome)
        & (harmonized["collection"] == "studies")
        & (~harmonized["is_contrast"])
        & (harmonized["quantity"] == "level")
        & harmonized["timepoint_days"].notna()
        & harmonized["mean"].notna()
    ]
    return mean_ci(rows).sort_values(["study_id", "arm_id", "timepoint_days"])


def draw_arm_means(harmonized: pd.DataFrame, outcome_id: str, registry, out_dir: Path, formats: list[str]) -> None:
    """Arm means with 95% CI over time, each arm in its intervention class's colour: one panel per study, or
    one for all if many."""
    points = arm_level_points(harmonized, outcome_id)
    fig = arm_means_figure(points, registry.outcomes[outcome_id], class_styles(registry))
    save_figure(fig, out_dir, f"arm_means_{outcome_id}", formats, tight=True)


# the columns of arm_level_points that the figure shows (the cache key of an arm-means figure)
POINT_COLUMNS = ["study_id", "arm_id", "timepoint_days", "mean", "ci_low", "ci_high", "arm_role", "intervention_class",
                 "method"]


def arm_means_figure(points: pd.DataFrame, outcome, styles: dict):
    """The arm means of ``points`` (arm_level_points) as a matplotlib Figure: small multiples, or one panel if many."""
    if points["study_id"].nunique() > SMALL_MULTIPLES_MAX:
        return _arm_means_overview(points, outcome, styles)
    return _arm_means_panels(points, outcome, styles)


def _arm_means_overview(points: pd.DataFrame, outcome, styles: dict):
    """Every arm in one panel, drawn as collections (fast for thousands of arms)."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    handles = []
    order = {c: i for i, c in enumerate(styles)}
    classes = points["intervention_class"].fillna("")
    for klass in sorted(set(classes), key=lambda c: order.get(c, len(order))):
        colour, marker, label = styles.get(klass, UNKNOWN)
        rows = points[(classes == klass).to_numpy()]
        role = rows["arm_role"].iloc[0] if rows["arm_role"].nunique() == 1 else "intervention"
        paths = [line for line in _arm_lines(rows) if len(line) > 1]
        # thousands of arms: the data layers are stored as an image inside the SVG (axes and text stay vectors),
        # which keeps the file small and quick to write
        ax.add_collection(LineCollection(paths, colors=colour, linewidths=0.6, alpha=0.35, linestyles=LINESTYLES.get(role, "-"),
                                         rasterized=True))
        bars = ax.errorbar(rows["timepoint_days"] / 7, rows["mean"], yerr=[rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]],
                           fmt=marker, ms=3, color=colour, ecolor=colour, elinewidth=0.5, alpha=0.6)
        for artist in bars.get_children():
            artist.set_rasterized(True)
        handles.append(plt.Line2D([], [], color=colour, ls=LINESTYLES.get(role, "-"), marker=marker,
                                  label=f"{label} ({rows[['study_id', 'arm_id']].drop_duplicates().shape[0]} arms)"))
    ax.autoscale_view()
    k = points["study_id"].nunique()
    ax.set_title(f"{outcome.label}: arm means with 95% CI ({k} studies)", loc="left", fontsize=10)
    ax.set_xlabel("Weeks since first treatment")
    ax.set_ylabel(f"{outcome.label} ({outcome.canonical_unit})")
    ax.legend(handles=handles, frameon=False, fontsize=8)
    return fig




def _arm_lines(rows: pd.DataFrame) -> list[np.ndarray]:
    """(weeks, mean) points of each arm, in time order (rows come sorted by study, arm and time)."""
    arms = rows[["study_id", "arm_id"]]
    starts = np.flatnonzero((arms != arms.shift()).any(axis=1).to_numpy())[1:]
    points = np.column_stack([rows["timepoint_days"].to_numpy(float) / 7, rows["mean"].to_numpy(float)])
    return np.split(points, starts)


def _arm_means_panels(points: pd.DataFrame, outcome, styles: dict):
    """Small multiples, one panel per study."""
    studies = sorted(points["study_id"].unique())
    ncols = min(4, max(1, len(studies)))
    nrows = max(1, -(-len(studies) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols + 0.6, 1.9 * nrows + 0.9), sharex=True, sharey=True, squeeze=False)
    if not studies:
        axes[0, 0].text(0.5, 0.5, f"No arm-level {outcome.label.lower()} values\nwith a stated timepoint in the corpus.",
                        ha="center", va="center", transform=axes[0, 0].transAxes)
    drawn = {}
    for ax, study in zip(axes.flat, studies):
        for _, arm_rows in points[points["study_id"] == study].groupby("arm_id", sort=True):
            role = arm_rows["arm_role"].iloc[0]
            klass = arm_rows["intervention_class"].iloc[0]
            colour, marker, _ = style = styles.get(klass, UNKNOWN)
            weeks = arm_rows["timepoint_days"] / 7
            estimated = arm_rows["method"].str.contains("Luo|Wan|Shi", regex=True).to_numpy()
            ax.plot(weeks, arm_rows["mean"], LINESTYLES.get(role, "-"), color=colour, lw=1.2)
            ax.errorbar(weeks, arm_rows["mean"], yerr=[arm_rows["mean"] - arm_rows["ci_low"], arm_rows["ci_high"] - arm_rows["mean"]],
                        fmt="none", ecolor=colour, elinewidth=0.9, capsize=2)
            ax.scatter(weeks, arm_rows["mean"], marker=marker, s=18, zorder=3, linewidths=1,
                       color=np.where(estimated, "white", colour), edgecolors=colour)
            drawn.setdefault(klass, (style, set()))[1].add(role)
        ax.set_title(study, fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(studies):]:
        ax.set_axis_off()
    for ax in axes[:, 0]:
        ax.set_ylabel(outcome.canonical_unit, fontsize=8)
    fig.supxlabel("Weeks since first treatment", fontsize=8)
    order = {c: i for i, c in enumerate(styles)}
    handles = [plt.Line2D([], [], color=colour, marker=marker, label=label,
                          ls=LINESTYLES.get(next(iter(roles)), "-") if len(roles) == 1 else "-")
               for klass, ((colour, marker, label), roles) in sorted(drawn.items(), key=lambda kv: order.get(kv[0], len(order)))]
    handles.append(plt.Line2D([], [], ls="", marker="o", mfc="white", mec="#333333", label="mean estimated from median"))
    k = len(studies)
    fig.suptitle(f"{outcome.label}: arm means with 95% CI ({k} {'study' if k == 1 else 'studies'})", fontsize=10, x=0.01, ha="left")
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.06 if nrows > 1 else -0.12), ncol=4, frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def draw_all(harmonized_path: Path, registry_path: Path, outcomes: list[str], formats: list[str], out_dir: Path,
             processes: int = 1, cache_dir: str | Path | None = None) -> None:
    """Arm means of every outcome and the evidence map (in ``processes`` worker processes). cache_dir: the
    content-addressed cache (config cache_dir; None or "": off); a figure is keyed by what it shows, so an edit
    redraws only the outcomes it touched."""
    registry = load_registry(registry_path)
    unknown = [o for o in outcomes if o not in registry.outcomes]
    if unknown:
        raise ValueError(f"config figures.outcomes names outcomes not in the registry: {unknown}")
    harmonized = read_table(harmonized_path)
    styles = class_styles(registry)
    # (stem, what the figure shows); the words of an outcome are its id, label and unit
    jobs = [(f"arm_means_{o}", arm_level_points(harmonized, o)[POINT_COLUMNS].reset_index(drop=True),
             registry.outcomes[o]) for o in outcomes]
    jobs.append(("evidence_map", evidence_map_content(harmonized, registry), None))

    def key(i: int) -> tuple:
        stem, content, outcome = jobs[i]
        words = None if outcome is None else [outcome.id, outcome.label, outcome.canonical_unit]
        shown = frame_content(content) if outcome is not None else content
        return stem, shown, words, styles, list(formats), HARMONIZED_STYLE

    def draw(i: int) -> dict[str, dict[str, bytes]]:
        stem, content, outcome = jobs[i]
        fig = evidence_map_figure(content) if outcome is None else arm_means_figure(content, outcome, styles)
        return {stem: figure_bytes(fig, formats, tight=True)}

    cache = figure_cache(cache_dir, "figures")
    draw_cached(cache, out_dir, len(jobs), key, draw, processes)
    print(f"{len(jobs)} figures; {cache.summary()}; {cache.prune()} unused entries removed")
