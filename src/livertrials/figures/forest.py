"""Forest and funnel plots of the pooled analyses (rule forest_plots): specs -> figure files -> index.json.

What is drawn depends on the data (forest_specs), so every figure drawn is listed in a manifest
(``index.json``) that the report reads; forest_draw draws, figures.files writes the files. A forest is keyed in the
content cache by its spec (everything it shows), so after an edit only the forests of the changed pools are drawn.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from livertrials.figures.files import FOREST_STYLE, draw_cached, figure_bytes, figure_cache
from livertrials.figures.forest_draw import draw_forest, draw_funnel
from livertrials.figures.forest_specs import (
    STUDY_COLUMNS,
    ForestSpec,
    forest_specs,
    funnel_reason,
    manifest_entry,
    synthesis_settings,
)
from livertrials.io.atomic import write_text
from livertrials.io.tables import read_table


def draw_all(pooled_path: Path, comparisons_path: Path, out_dir: Path, manifest_path: Path, forest: dict,
             processes: int = 1, cache_dir: str | Path | None = None) -> list[dict]:
    """Draw every forest (and funnel where k >= funnel_min_k) into out_dir; write the manifest.

    forest: config["forest"] with every key set (the workflow's validate() or livertrials.settings fills
    the defaults). processes > 1 draws in that many forked worker processes (text rendering is the
    cost, and each figure is independent); the files and the manifest are the same either way. cache_dir: the
    content-addressed cache (config cache_dir; None or "": off)."""
    formats, funnel_min_k, max_rows = list(forest["formats"]), int(forest["funnel_min_k"]), int(forest["max_rows"])
    measures = list(forest["measures"])
    settings = synthesis_settings(pooled_path)
    if not settings:   # which rows are the default fits is known only from the settings the table was made with
        raise ValueError(f"{pooled_path} stores no synthesis settings: not a pooled table written by livertrials synthesis")
    pooled = read_table(pooled_path)
    # the columns a forest shows: the table's other columns (record ids, flags, ...) are most of its size
    present = pq.read_schema(comparisons_path).names
    comparisons = pq.read_table(comparisons_path, columns=[c for c in ["comparison_id", *STUDY_COLUMNS]
                                                           if c in present]).to_pandas()
    specs = forest_specs(pooled, comparisons, settings, measures=measures,
                         across_windows_outcomes=forest["across_windows_outcomes"],
                         across_windows_measure=forest["across_windows_measure"], max_rows=max_rows)
    Path(out_dir).mkdir(parents=True, exist_ok=True)   # the rule's output folder, also when nothing is pooled
    reasons = [funnel_reason(int(spec.main_row["k"]), funnel_min_k) if spec.kind == "main" else None for spec in specs]
    funnels = [spec.kind == "main" and reason is None for spec, reason in zip(specs, reasons)]
    cache = figure_cache(cache_dir, "forests")
    drawn = draw_cached(cache, out_dir, len(specs), lambda i: (spec_content(specs[i]), funnels[i], formats, FOREST_STYLE),
                        lambda i: _draw_one(specs[i], formats, funnels[i]), processes)
    entries = [manifest_entry(spec, files[spec.id], files.get(_funnel_stem(spec)), reason, funnel_min_k)
               for spec, files, reason in zip(specs, drawn, reasons)]
    # file names in the manifest are relative to "directory", itself relative to the manifest: the tree can move
    manifest = {"directory": os.path.relpath(out_dir, manifest_path.parent), "funnel_min_k": funnel_min_k,
                "max_rows": max_rows, "measures": measures,
                "settings": {k: settings.get(k) for k in ("default_method", "default_test")}, "forests": entries}
    write_text(manifest_path, json.dumps(manifest, indent=1, sort_keys=True, default=_json_default) + "\n")
    print(f"{len(entries)} forest plots drawn ({sum(e['funnel'] is not None for e in entries)} funnel plots)")
    print(f"{cache.summary()}; {cache.prune()} unused entries removed")
    return entries


def _funnel_stem(spec: ForestSpec) -> str:
    return spec.id.replace("forest_", "funnel_", 1)


def _draw_one(spec: ForestSpec, formats: list[str], funnel: bool) -> dict[str, dict[str, bytes]]:
    """The files of one forest (and its funnel): stem -> format -> bytes."""
    out = {spec.id: figure_bytes(draw_forest(spec), formats)}
    if funnel:
        out[_funnel_stem(spec)] = figure_bytes(draw_funnel(spec), formats)
    return out


def spec_content(spec: ForestSpec) -> list:
    """Everything a forest and its funnel show, for the cache key: the spec's words and settings, each block's pooled
    row and study rows. The pooled rows' lists (study, comparison and record ids, weights) are left out: what of them
    is drawn is in the study rows."""
    def row(r: dict | None):
        return None if r is None else {k: v for k, v in r.items() if not isinstance(v, (np.ndarray, list))}

    return [spec.id, spec.kind, spec.title, spec.subtitle, spec.measure, spec.benefit, spec.design, spec.unit,
            spec.max_rows, dataclasses.astuple(spec.comparison), row(spec.overall),
            [[b.title, row(b.pooled), *_studies_content(b.studies)] for b in spec.blocks]]


def _studies_content(studies: list) -> list:
    """Study rows as their texts and a float array of their numbers (keyed by its bytes: exact, and quick for the
    200,000 rows of the forests of 1,000 studies, where a text form of every number took seconds)."""
    texts = [t for s in studies for t in (s.study_id, s.comparison_id, s.timepoint, *s.side_1, *s.side_2)]
    numbers = np.array([(s.yi, s.ci_lb, s.ci_ub, np.nan if s.weight is None else s.weight, s.se) for s in studies],
                       dtype=float)
    return [texts, numbers, np.array([s.weight is None for s in studies], dtype=bool)]


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)
