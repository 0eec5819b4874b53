"""The forest-plot figures of the report, each an HTML fragment reused from the cache while its inputs are unchanged.

A figure is most of the report's bytes (its PNGs inlined as base64) and depends on few inputs: its manifest entry
(settings, rows, summaries), its image files and the study effects of its outcome, window and measure that are not
in it. Those are its key (io.cache), so after a one-study edit only the plots that edit redrew are rebuilt.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from livertrials.io.cache import ContentCache
from livertrials.lineage.run_info import sha256
from livertrials.report.html import Html
from livertrials.report.results_sections import figure_file, forest_figure, not_used, unused_effects


def _digest(path: Path | None) -> str | None:
    return sha256(path) if path is not None and path.exists() else None


def forest_figures(entries: list[dict], forest_dir: Path, comparisons: pd.DataFrame,
                   cache: ContentCache) -> dict[str, Html]:
    """Forest id -> its figure (results_sections.forest_figure), from the cache where the key is there."""
    unused = unused_effects(comparisons)
    figures = {}
    for entry in entries:
        files = [figure_file(entry["files"], forest_dir)] + ([figure_file(entry["funnel"], forest_dir)]
                                                              if entry["funnel"] else [])
        key = cache.key("forest figure", entry, str(forest_dir), [_digest(f) for f in files],
                        not_used(entry, unused)) if cache.enabled else ""
        figures[entry["id"]] = Html(cache.fetch(key, lambda e=entry: forest_figure(e, forest_dir, unused)))
    return figures
