"""Snakemake script: every disagreement between first and second extractions (results/validation/double_extraction.parquet)."""
from pathlib import Path

from livertrials.io.logs import log_to
from livertrials.io.registry import load_registry
from livertrials.lineage.run_info import manifest_metadata, workflow_root
from livertrials.validate.double_extraction import write_double_extraction

with log_to(snakemake.log[0]):
    count = write_double_extraction(
        [Path(p) for p in snakemake.params.folders],
        list(snakemake.params.collections),
        load_registry(snakemake.input.registry),
        Path(snakemake.output[0]),
        manifest_metadata(snakemake.config, workflow_root(snakemake), snakemake.input),
    )
    print(f"{len(snakemake.params.folders)} second extraction(s) compared: {count} disagreement(s)")
