"""Snakemake script: study-level effects, window assignment, pooled estimates and comparators."""
from pathlib import Path

from livertrials.logs import log_to
from livertrials.synthesis import synthesize

with log_to(snakemake.log[0]):
    synthesize(
        Path(snakemake.input.harmonized),
        Path(snakemake.input.characteristics),
        Path(snakemake.input.registry),
        dict(snakemake.params.settings),
        {name: Path(path) for name, path in snakemake.output.items()},
    )
