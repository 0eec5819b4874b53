"""The evidence map: studies x outcomes, each cell listing the weeks at which a study reports the outcome.

Drawn from the harmonized table, so every study with data appears. Above ``EVIDENCE_TEXT_MAX``
studies the per-cell text would be unreadable; the map becomes an image of timepoint counts.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from livertrials.figures.files import HARMONIZED_STYLE, save_figure  # noqa: E402

EVIDENCE_TEXT_MAX = 80  # above this many studies the evidence map drops the per-cell week lists

plt.rcParams.update(HARMONIZED_STYLE)


def _weeks_text(rows: pd.DataFrame) -> str:
    weeks = sorted({round(d / 7) for d in rows["timepoint_days"].dropna()})
    text = " ".join(str(w) for w in weeks[:6]) + (" ..." if len(weeks) > 6 else "")
    if rows["timepoint_days"].isna().any():
        text = (text + " ns").strip()
    return text


def draw_evidence_map(harmonized: pd.DataFrame, registry, out_dir: Path, formats: list[str]) -> None:
    """One matrix: studies x outcomes; a cell lists the weeks at which the study reports the outcome."""
    save_figure(evidence_map_figure(evidence_map_content(harmonized, registry)), out_dir, "evidence_map", formats,
                tight=True)


def evidence_map_content(harmonized: pd.DataFrame, registry) -> dict:
    """Everything the evidence map shows (its cache key, and what evidence_map_figure draws): the outcomes' labels,
    the studies, and per cell its colour and weeks, or above EVIDENCE_TEXT_MAX studies the timepoint counts."""
    data = harmonized[(harmonized["collection"] == "studies") & (harmonized["kind"] != "descriptive")]
    present = set(data["outcome"].unique())   # once, not per registry outcome
    outcomes = [o for o in registry.outcomes if o in present]
    studies = sorted(data["study_id"].unique(), reverse=True)
    labels = [registry.outcomes[o].label.split(" (")[0] for o in outcomes]
    if len(studies) > EVIDENCE_TEXT_MAX:
        counts = (data.groupby(["study_id", "outcome"])["timepoint_text"].nunique()
                  .unstack(fill_value=0).reindex(index=studies, columns=outcomes, fill_value=0))
        return {"outcomes": outcomes, "labels": labels, "studies": studies, "counts": counts.to_numpy()}
    cells = [(study, outcome_id, not cell["is_contrast"].all(), _weeks_text(cell))
             for (study, outcome_id), cell in data.groupby(["study_id", "outcome"])]
    return {"outcomes": outcomes, "labels": labels, "studies": studies, "cells": cells}


def evidence_map_figure(content: dict):
    """The evidence map of evidence_map_content, as a matplotlib Figure."""
    if "counts" in content:
        return _evidence_counts_figure(content)
    outcomes, studies, labels = content["outcomes"], content["studies"], content["labels"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.72 * max(len(outcomes), 4), 1.2 + 0.24 * max(len(studies), 6)))
    col = {o: i for i, o in enumerate(outcomes)}
    row = {s: i for i, s in enumerate(studies)}
    for study, outcome_id, arm_level, text in content["cells"]:
        colour = "#CFE3F3" if arm_level else "#F3D6E7"  # light Okabe-Ito blue / reddish purple
        ax.add_patch(plt.Rectangle((col[outcome_id] - 0.48, row[study] - 0.45), 0.96, 0.9, color=colour, lw=0))
        ax.text(col[outcome_id], row[study], text, ha="center", va="center", fontsize=5.5)
    ax.set_xlim(-0.5, len(outcomes) - 0.5)
    ax.set_ylim(-0.5, len(studies) - 0.5)
    ax.set_xticks(range(len(outcomes)), labels, rotation=60, ha="right", fontsize=7)
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
    return fig


def _evidence_counts_figure(content: dict):
    """Evidence map for large corpora: an image of timepoints per study x outcome (no per-cell text)."""
    outcomes, studies = content["outcomes"], content["studies"]
    fig, ax = plt.subplots(figsize=(1.5 + 0.5 * len(outcomes), 8))
    image = ax.imshow(content["counts"], aspect="auto", cmap="Blues", interpolation="nearest", origin="lower")
    ax.set_xticks(range(len(outcomes)), content["labels"], rotation=60, ha="right", fontsize=7)
    step = max(1, len(studies) // 40)
    ax.set_yticks(range(0, len(studies), step), studies[::step], fontsize=5)
    fig.colorbar(image, ax=ax, label="timepoints reported")
    ax.set_title(f"Evidence map: {len(studies)} studies x {len(outcomes)} outcomes (timepoints per cell)", loc="left", fontsize=9)
    return fig
