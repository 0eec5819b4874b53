"""Snakemake script: forest (and funnel) plots of the pooled analyses, listed in a manifest."""
from pathlib import Path

from livertrials.figures.forest import draw_all
from livertrials.io.logs import log_to

with log_to(snakemake.log[0]):
    draw_all(
        Path(snakemake.input.pooled),
        Path(snakemake.input.comparisons),
        Path(snakemake.output.figures),
        Path(snakemake.output.manifest),
        snakemake.params.settings,
        processes=snakemake.threads,
        cache_dir=snakemake.params.cache_dir,
    )
