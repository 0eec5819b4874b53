"""Snakemake script: validate and harmonize one shard of study folders."""
from pathlib import Path

from livertrials.harmonize.shards import build_shard
from livertrials.io.logs import log_to

with log_to(snakemake.log[0]):
    build_shard(
        [Path(p) for p in snakemake.params.folders],
        list(snakemake.params.collections),
        Path(snakemake.input.registry),
        Path(snakemake.output.harmonized).parent,
        cache_dir=snakemake.params.cache_dir,
    )
