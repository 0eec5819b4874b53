"""Snakemake script: merge shard tables into the harmonized outputs and the validation report."""
from pathlib import Path

from livertrials.harmonize.shards import merge_shards
from livertrials.io.logs import log_to
from livertrials.lineage.run_info import manifest_metadata, workflow_root

with log_to(snakemake.log[0]):
    merge_shards(
        [Path(d) for d in snakemake.params.shard_dirs],
        {name: Path(path) for name, path in snakemake.output.items()},
        manifest_metadata(snakemake.config, workflow_root(snakemake), snakemake.input),
        double_extraction=[Path(p) for p in snakemake.params.double_extraction],
    )
