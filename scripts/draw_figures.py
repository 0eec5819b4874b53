"""Snakemake script: draw the harmonized-outcome figures and the evidence map."""
from pathlib import Path

from livertrials.figures.arm_means import draw_all
from livertrials.io.logs import log_to

with log_to(snakemake.log[0]):
    draw_all(
        Path(snakemake.input.harmonized),
        Path(snakemake.input.registry),
        list(snakemake.params.outcomes),
        list(snakemake.params.formats),
        Path(snakemake.output.evidence_map[0]).parent,
        processes=snakemake.threads,
        cache_dir=snakemake.params.cache_dir,
    )
