"""Report figures drawn from the harmonized tables.

Colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies);
intervention and control also differ by marker and line style, so the figures read in
grey scale too. SVGs carry no date and a fixed hash salt so rebuilds are identical.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from livertrials.figures.files import in_processes, save_figure  # noqa: E402
from livertrials.io.registry import load_registry  # noqa: E402
from livertrials.io.tables import read_table  # noqa: E402

OKABE_ITO = {"intervention": "#0072B2", "control": "#E69F00", "active_comparator": "#009E73", "all": "#555555"}
MARKERS = {"intervention": "o", "control": "s", "active_comparator": "^", "all": "D"}
LINESTYLES = {"intervention": "-", "control": "--", "active_comparator": "-.", "all": ":"}
ROLE_NAMES = {"intervention": "cell therapy arm", "control": "control arm", "active_comparator": "active comparator",
              "all": "whole study"}

plt.rcParams.update({"svg.hashsalt": "livertrials", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})


def mean_ci(frame: pd.DataFrame) -> pd.DataFrame:
    """95% CI of an arm mean: mean ± t(n-1) x SD / sqrt(n); no CI without SD or n."""
    n = frame["n"].astype(float)
    sd = frame["sd"].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    return frame.assign(ci_low=frame["mean"] - half, ci_high=frame["mean"] + half)


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



SMALL_MULTIPLES_MAX = 12  # above this many studies one panel per study is unreadable and slow
EVIDENCE_TEXT_MAX = 80  # above this many studies the evidence map drops the per-cell week lists


def draw_arm_means(harmonized: pd.DataFrame, outcome_id: str, registry, out_dir: Path, formats: list[str]) -> None:
    """Arm means with 95% CI over time, cells vs control: one panel per study, or one for all if many."""
    points = arm_level_points(harmonized, outcome_id)
    if points["study_id"].nunique() > SMALL_MULTIPLES_MAX:
        return _draw_arm_means_overview(points, registry.outcomes[outcome_id], out_dir, formats)
    return _draw_arm_means_panels(points, registry.outcomes[outcome_id], out_dir, formats)


def _draw_arm_means_overview(points: pd.DataFrame, outcome, out_dir: Path, formats: list[str]) -> None:
    """Every arm in one panel, drawn as collections (fast for thousands of arms)."""
    from matplotlib.collections import LineCollection

    fig, ax = plt.subplots(figsize=(8, 4.8))
    handles = []
    for role, rows in points.groupby("arm_role", sort=True):
        colour = OKABE_ITO.get(role, "#555555")
        paths = [line for line in _arm_lines(rows) if len(line) > 1]
        # thousands of arms: the data layers are stored as an image inside the SVG (axes and text stay vectors),
        # which keeps the file small and quick to write
        ax.add_collection(LineCollection(paths, colors=colour, linewidths=0.6, alpha=0.35, linestyles=LINESTYLES.get(role, "-"),
                                         rasterized=True))
        bars = ax.errorbar(rows["timepoint_days"] / 7, rows["mean"], yerr=[rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]],
                           fmt=MARKERS.get(role, "o"), ms=3, color=colour, ecolor=colour, elinewidth=0.5, alpha=0.6)
        for artist in bars.get_children():
            artist.set_rasterized(True)
        handles.append(plt.Line2D([], [], color=colour, ls=LINESTYLES.get(role, "-"), marker=MARKERS.get(role, "o"),
                                  label=f"{ROLE_NAMES.get(role, role)} ({rows[['study_id', 'arm_id']].drop_duplicates().shape[0]} arms)"))
    ax.autoscale_view()
    k = points["study_id"].nunique()
    ax.set_title(f"{outcome.label}: arm means with 95% CI ({k} studies)", loc="left", fontsize=10)
    ax.set_xlabel("Weeks since first treatment")
    ax.set_ylabel(f"{outcome.label} ({outcome.canonical_unit})")
    ax.legend(handles=handles, frameon=False, fontsize=8)
    save_figure(fig, out_dir, f"arm_means_{outcome.id}", formats, tight=True)


def _arm_lines(rows: pd.DataFrame) -> list[np.ndarray]:
    """(weeks, mean) points of each arm, in time order (rows come sorted by study, arm and time)."""
    arms = rows[["study_id", "arm_id"]]
    starts = np.flatnonzero((arms != arms.shift()).any(axis=1).to_numpy())[1:]
    points = np.column_stack([rows["timepoint_days"].to_numpy(float) / 7, rows["mean"].to_numpy(float)])
    return np.split(points, starts)


def _draw_arm_means_panels(points: pd.DataFrame, outcome, out_dir: Path, formats: list[str]) -> None:
    """Small multiples, one panel per study."""
    outcome_id = outcome.id
    studies = sorted(points["study_id"].unique())
    ncols = min(4, max(1, len(studies)))
    nrows = max(1, -(-len(studies) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols + 0.6, 1.9 * nrows + 0.9), sharex=True, sharey=True, squeeze=False)
    if not studies:
        axes[0, 0].text(0.5, 0.5, f"No arm-level {outcome.label.lower()} values\nwith a stated timepoint in the corpus.",
                        ha="center", va="center", transform=axes[0, 0].transAxes)
    roles_drawn = set()
    for ax, study in zip(axes.flat, studies):
        for arm_id, arm_rows in points[points["study_id"] == study].groupby("arm_id", sort=True):
            role = arm_rows["arm_role"].iloc[0]
            colour = OKABE_ITO.get(role, "#555555")
            weeks = arm_rows["timepoint_days"] / 7
            estimated = arm_rows["method"].str.contains("Luo|Wan|Shi", regex=True).to_numpy()
            ax.plot(weeks, arm_rows["mean"], LINESTYLES.get(role, "-"), color=colour, lw=1.2)
            ax.errorbar(weeks, arm_rows["mean"], yerr=[arm_rows["mean"] - arm_rows["ci_low"], arm_rows["ci_high"] - arm_rows["mean"]],
                        fmt="none", ecolor=colour, elinewidth=0.9, capsize=2)
            ax.scatter(weeks, arm_rows["mean"], marker=MARKERS.get(role, "o"), s=18, zorder=3, linewidths=1,
                       color=np.where(estimated, "white", colour), edgecolors=colour)
            roles_drawn.add(role)
        ax.set_title(study, fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(studies):]:
        ax.set_axis_off()
    for ax in axes[:, 0]:
        ax.set_ylabel(outcome.canonical_unit, fontsize=8)
    fig.supxlabel("Weeks since first treatment", fontsize=8)
    handles = [plt.Line2D([], [], color=OKABE_ITO[r], ls=LINESTYLES[r], marker=MARKERS[r], label=ROLE_NAMES[r])
               for r in OKABE_ITO if r in roles_drawn]
    handles.append(plt.Line2D([], [], ls="", marker="o", mfc="white", mec="#333333", label="mean estimated from median"))
    k = len(studies)
    fig.suptitle(f"{outcome.label}: arm means with 95% CI ({k} {'study' if k == 1 else 'studies'})", fontsize=10, x=0.01, ha="left")
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.06 if nrows > 1 else -0.12), ncol=4, frameon=False, fontsize=7)
    fig.tight_layout()
    save_figure(fig, out_dir, f"arm_means_{outcome_id}", formats, tight=True)


def _weeks_text(rows: pd.DataFrame) -> str:
    weeks = sorted({round(d / 7) for d in rows["timepoint_days"].dropna()})
    text = " ".join(str(w) for w in weeks[:6]) + (" ..." if len(weeks) > 6 else "")
    if rows["timepoint_days"].isna().any():
        text = (text + " ns").strip()
    return text


def draw_evidence_map(harmonized: pd.DataFrame, registry, out_dir: Path, formats: list[str]) -> None:
    """One matrix: studies x outcomes; a cell lists the weeks at which the study reports the outcome."""
    data = harmonized[(harmonized["collection"] == "studies") & (harmonized["kind"] != "descriptive")]
    outcomes = [o for o in registry.outcomes if o in set(data["outcome"])]
    studies = sorted(data["study_id"].unique(), reverse=True)
    many = len(studies) > EVIDENCE_TEXT_MAX
    if many:
        return _draw_evidence_counts(data, outcomes, studies, registry, out_dir, formats)
    fig, ax = plt.subplots(figsize=(1.0 + 0.72 * max(len(outcomes), 4), 1.2 + 0.24 * max(len(studies), 6)))
    col = {o: i for i, o in enumerate(outcomes)}
    row = {s: i for i, s in enumerate(studies)}
    for (study, outcome_id), cell in data.groupby(["study_id", "outcome"]):
        arm_level = not cell["is_contrast"].all()
        colour = "#CFE3F3" if arm_level else "#F3D6E7"  # light Okabe-Ito blue / reddish purple
        ax.add_patch(plt.Rectangle((col[outcome_id] - 0.48, row[study] - 0.45), 0.96, 0.9, color=colour, lw=0))
        if many is False:
            ax.text(col[outcome_id], row[study], _weeks_text(cell), ha="center", va="center", fontsize=5.5)
    ax.set_xlim(-0.5, len(outcomes) - 0.5)
    ax.set_ylim(-0.5, len(studies) - 0.5)
    ax.set_xticks(range(len(outcomes)), [registry.outcomes[o].label.split(" (")[0] for o in outcomes], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(studies)), studies, fontsize=7)
    ax.tick_params(length=0)
    ax.xaxis.set_ticks_position("top")
    ax.xaxis.set_label_position("top")
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    handles = [plt.Rectangle((0, 0), 1, 1, color="#CFE3F3", label="arm-level values"),
               plt.Rectangle((0, 0), 1, 1, color="#F3D6E7", label="between-group effect only")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, -0.01), ncol=2, frameon=False, fontsize=7)
    ax.set_xlabel(f"Evidence map: {len(studies)} studies x {len(outcomes)} outcomes; "
                  "cells list weeks since first treatment (ns = timepoint not stated)", fontsize=8, labelpad=8)
    save_figure(fig, out_dir, "evidence_map", formats, tight=True)


def _draw_evidence_counts(data: pd.DataFrame, outcomes: list[str], studies: list[str], registry, out_dir: Path,
                          formats: list[str]) -> None:
    """Evidence map for large corpora: an image of timepoints per study x outcome (no per-cell text)."""
    counts = (data.groupby(["study_id", "outcome"])["timepoint_text"].nunique()
              .unstack(fill_value=0).reindex(index=studies, columns=outcomes, fill_value=0))
    fig, ax = plt.subplots(figsize=(1.5 + 0.5 * len(outcomes), 8))
    image = ax.imshow(counts.to_numpy(), aspect="auto", cmap="Blues", interpolation="nearest", origin="lower")
    ax.set_xticks(range(len(outcomes)), [registry.outcomes[o].label.split(" (")[0] for o in outcomes], rotation=60, ha="right", fontsize=7)
    step = max(1, len(studies) // 40)
    ax.set_yticks(range(0, len(studies), step), studies[::step], fontsize=5)
    fig.colorbar(image, ax=ax, label="timepoints reported")
    ax.set_title(f"Evidence map: {len(studies)} studies x {len(outcomes)} outcomes (timepoints per cell)", loc="left", fontsize=9)
    save_figure(fig, out_dir, "evidence_map", formats, tight=True)


def draw_all(harmonized_path: Path, registry_path: Path, outcomes: list[str], formats: list[str], out_dir: Path,
             processes: int = 1) -> None:
    """Arm means of every outcome and the evidence map (in ``processes`` worker processes)."""
    registry = load_registry(registry_path)
    unknown = [o for o in outcomes if o not in registry.outcomes]
    if unknown:
        raise ValueError(f"config figures.outcomes names outcomes not in the registry: {unknown}")
    harmonized = read_table(harmonized_path)
    figures = [lambda o=o: draw_arm_means(harmonized, o, registry, out_dir, formats) for o in outcomes]
    figures.append(lambda: draw_evidence_map(harmonized, registry, out_dir, formats))
    in_processes(lambda i: figures[i](), len(figures), processes)
