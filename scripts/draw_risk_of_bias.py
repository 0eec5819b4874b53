"""Snakemake script: the risk-of-bias traffic light and the weighted bars of every pooled summary-of-findings row,
listed in a manifest."""
from pathlib import Path

from livertrials.figures.risk_of_bias import draw_all
from livertrials.io.logs import log_to

with log_to(snakemake.log[0]):
    draw_all(
        Path(snakemake.input.risk_of_bias),
        Path(snakemake.input.summary_of_findings),
        Path(snakemake.input.pooled),
        Path(snakemake.output.figures),
        Path(snakemake.output.manifest),
        list(snakemake.params.formats),
        processes=snakemake.threads,
        cache_dir=snakemake.params.cache_dir,
    )
