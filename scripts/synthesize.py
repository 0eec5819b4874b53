"""Snakemake script: study-level effects per comparison, window assignment, pooled estimates, comparators, the
studies in no comparison, the summary of findings with GRADE certainty, the evidence gaps, and their lineage."""
from pathlib import Path

from livertrials.io.logs import log_to
from livertrials.lineage.run_info import manifest_metadata, workflow_root
from livertrials.synthesis.run import synthesize

with log_to(snakemake.log[0]):
    synthesize(
        Path(snakemake.input.harmonized),
        Path(snakemake.input.characteristics),
        Path(snakemake.input.registry),
        dict(snakemake.params.settings),
        {name: Path(path) for name, path in snakemake.output.items()},
        manifest_metadata(snakemake.config, workflow_root(snakemake)),
        comparisons=list(snakemake.params.comparisons),
        risk_of_bias_path=Path(snakemake.input.risk_of_bias),
        grade=dict(snakemake.params.grade),
        cache_dir=snakemake.params.cache_dir,
    )
