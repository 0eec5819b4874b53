"""Forest and funnel plots of the pooled analyses (rule forest_plots): plans -> figure files -> index.json.

What is drawn depends on the data (forest_plans), so every figure drawn is listed in a manifest (``index.json``) that
the report reads; forest_draw draws, figures.files writes the files. A forest is keyed in the content cache by the
rows its spec is built from (forest_plans.Forests.content), and its entry holds its files and its manifest entry: so
after an edit only the forests of the changed rows are built and drawn, and the others cost a lookup.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from livertrials.figures.files import FOREST_STYLE, cached_drawings, figure_bytes, figure_cache
from livertrials.figures.forest_draw import draw_forest, draw_funnel
from livertrials.figures.forest_plans import STUDY_COLUMNS, Forests
from livertrials.figures.forest_specs import ForestSpec, funnel_reason, manifest_entry, synthesis_settings
from livertrials.io.atomic import write_text
from livertrials.io.tables import read_table


def draw_all(pooled_path: Path, comparisons_path: Path, out_dir: Path, manifest_path: Path, forest: dict,
             processes: int = 1, cache_dir: str | Path | None = None) -> list[dict]:
    """Draw every forest (and funnel where k >= funnel_min_k) into out_dir; write the manifest.

    forest: config["forest"] with every key set (the workflow's validate() or livertrials.settings fills
    the defaults). processes > 1 draws in that many forked worker processes (text rendering is the
    cost, and each figure is independent); the files and the manifest are the same either way. cache_dir: the
    content-addressed cache (config cache_dir; None or "": off)."""
    formats, funnel_min_k = list(forest["formats"]), int(forest["funnel_min_k"])
    measures = list(forest["measures"])
    settings = synthesis_settings(pooled_path)
    if not settings:   # which rows are the default fits is known only from the settings the table was made with
        raise ValueError(f"{pooled_path} stores no synthesis settings: not a pooled table written by livertrials synthesis")
    pooled = read_table(pooled_path)
    # the columns a forest shows: the table's other columns (record ids, flags, ...) are most of its size
    present = pq.read_schema(comparisons_path).names
    comparisons = pq.read_table(comparisons_path, columns=[c for c in ["comparison_id", *STUDY_COLUMNS]
                                                           if c in present]).to_pandas()
    forests = Forests(pooled, comparisons, settings, measures=measures,
                      across_windows_outcomes=forest["across_windows_outcomes"],
                      across_windows_measure=forest["across_windows_measure"], max_rows=int(forest["max_rows"]))
    Path(out_dir).mkdir(parents=True, exist_ok=True)   # the rule's output folder, also when nothing is pooled
    reasons = [funnel_reason(int(forests.rows[plan.main]["k"]), funnel_min_k) if plan.kind == "main" else None
               for plan in forests.plans]
    funnels = [plan.kind == "main" and reason is None for plan, reason in zip(forests.plans, reasons)]
    specs: dict[int, ForestSpec] = {}   # built only for the forests drawn (prepare), before the workers fork

    def draw(i: int):
        entry = manifest_entry(specs[i], None, None, reasons[i], funnel_min_k)
        return _draw_one(specs[i], formats, funnels[i]), entry

    cache = figure_cache(cache_dir, "forests")
    drawn = cached_drawings(cache, out_dir, len(forests.plans),
                            lambda i: key_parts(forests, i, formats, funnels[i], funnel_min_k), draw, processes,
                            prepare=lambda missing: specs.update(forests.specs(missing)))
    entries = [{**entry, "files": files[plan.id], "funnel": files.get(_funnel_stem(plan.id))}
               for plan, (files, entry) in zip(forests.plans, drawn)]
    # file names in the manifest are relative to "directory", itself relative to the manifest: the tree can move
    manifest = {"directory": os.path.relpath(out_dir, manifest_path.parent), "funnel_min_k": funnel_min_k,
                "max_rows": forests.max_rows, "measures": measures,
                "settings": {k: settings.get(k) for k in ("default_method", "default_test")}, "forests": entries}
    write_text(manifest_path, json.dumps(manifest, indent=1, sort_keys=True, default=_json_default) + "\n")
    print(f"{len(entries)} forest plots drawn ({sum(e['funnel'] is not None for e in entries)} funnel plots)")
    print(f"{cache.summary()}; {cache.prune()} unused entries removed")
    return entries


def key_parts(forests: Forests, i: int, formats: list[str], funnel: bool, funnel_min_k: int) -> tuple:
    """The cache key of forest i: the rows its spec is built from, and what else its files and manifest entry show
    (the formats, whether it has a funnel plot, the funnel threshold its entry names, the figure style)."""
    return forests.content(i), funnel, formats, funnel_min_k, FOREST_STYLE


def _funnel_stem(stem: str) -> str:
    return stem.replace("forest_", "funnel_", 1)


def _draw_one(spec: ForestSpec, formats: list[str], funnel: bool) -> dict[str, dict[str, bytes]]:
    """The files of one forest (and its funnel): stem -> format -> bytes."""
    out = {spec.id: figure_bytes(draw_forest(spec), formats)}
    if funnel:
        out[_funnel_stem(spec.id)] = figure_bytes(draw_funnel(spec), formats)
    return out


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)
