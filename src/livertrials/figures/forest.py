"""Forest and funnel plots of the pooled analyses (rule forest_plots): specs -> figure files -> index.json.

What is drawn depends on the data (forest_specs), so every figure drawn is listed in a manifest
(``index.json``) that the report reads; forest_draw draws, figures.files writes the files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from livertrials.figures.files import in_processes, save_figure
from livertrials.figures.forest_draw import draw_forest, draw_funnel
from livertrials.figures.forest_specs import ForestSpec, forest_specs, funnel_reason, manifest_entry, synthesis_settings
from livertrials.io.atomic import write_text
from livertrials.io.tables import read_table


def draw_all(pooled_path: Path, comparisons_path: Path, out_dir: Path, manifest_path: Path, forest: dict,
             processes: int = 1) -> list[dict]:
    """Draw every forest (and funnel where k >= funnel_min_k) into out_dir; write the manifest.

    forest: config["forest"] with every key set (the workflow's validate() or livertrials.settings fills
    the defaults). processes > 1 draws in that many forked worker processes (text rendering is the
    cost, and each figure is independent); the files and the manifest are the same either way."""
    formats, funnel_min_k, max_rows = list(forest["formats"]), int(forest["funnel_min_k"]), int(forest["max_rows"])
    measures = list(forest["measures"])
    settings = synthesis_settings(pooled_path)
    if not settings:   # which rows are the default fits is known only from the settings the table was made with
        raise ValueError(f"{pooled_path} stores no synthesis settings: not a pooled table written by livertrials synthesis")
    pooled, comparisons = read_table(pooled_path), read_table(comparisons_path)
    specs = forest_specs(pooled, comparisons, settings, measures=measures,
                         across_windows_outcomes=forest["across_windows_outcomes"],
                         across_windows_measure=forest["across_windows_measure"], max_rows=max_rows)
    Path(out_dir).mkdir(parents=True, exist_ok=True)   # the rule's output folder, also when nothing is pooled
    drawn = in_processes(lambda i: _draw_one(specs[i], out_dir, formats, funnel_min_k), len(specs), processes)
    entries = [manifest_entry(spec, *files, funnel_min_k) for spec, files in zip(specs, drawn)]
    # file names in the manifest are relative to "directory", itself relative to the manifest: the tree can move
    manifest = {"directory": os.path.relpath(out_dir, manifest_path.parent), "funnel_min_k": funnel_min_k,
                "max_rows": max_rows, "measures": measures,
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
