"""Snakemake script: forest (and funnel) plots of the pooled analyses, listed in a manifest."""
from pathlib import Path

from livertrials.figures.forest import draw_all
from livertrials.io.logs import log_to

with log_to(snakemake.log[0]):
    forest = snakemake.params.settings
    draw_all(
        Path(snakemake.input.pooled),
        Path(snakemake.input.comparisons),
        Path(snakemake.output.figures),
        Path(snakemake.output.manifest),
        list(forest["formats"]),
        funnel_min_k=int(forest["funnel_min_k"]),
        across_windows_outcomes=tuple(forest["across_windows_outcomes"]),
        across_windows_measure=forest["across_windows_measure"],
        max_rows=int(forest["max_rows"]),
        measures=list(forest["measures"]),
        processes=snakemake.threads,
    )
