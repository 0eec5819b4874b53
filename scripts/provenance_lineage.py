"""Snakemake script: results/provenance/lineage.parquet = harmonize edges + synthesis edges."""
from pathlib import Path

from livertrials.io.logs import log_to
from livertrials.lineage.run_info import manifest_metadata, workflow_root
from livertrials.provenance.lineage import combine_lineage

with log_to(snakemake.log[0]):
    edges = combine_lineage([Path(snakemake.input.harmonize), Path(snakemake.input.synthesis)], Path(snakemake.output[0]),
                            manifest_metadata(snakemake.config, workflow_root(snakemake), snakemake.input))
    print(f"lineage: {edges} edges")
