"""Snakemake script: the run as a Workflow Run RO-Crate (results/provenance/ro-crate/)."""
import json
from pathlib import Path

from livertrials.io.logs import log_to
from livertrials.lineage.run_info import workflow_root
from livertrials.provenance.crate import write_crate
from livertrials.provenance.manifest import output_files

with log_to(snakemake.log[0]):
    run = json.loads(Path(snakemake.input.manifest).read_text(encoding="utf-8"))
    outputs = output_files([*snakemake.input.outputs, snakemake.input.manifest, snakemake.input.changes_md,
                            snakemake.input.changes_json])
    path = write_crate(
        Path(snakemake.output[0]),
        run,
        snakemake.config,
        [Path(p) for p in snakemake.params.configfiles],
        [Path(p) for p in snakemake.input.workflow],
        [Path(p) for p in snakemake.input.inputs],
        outputs,
        root=workflow_root(snakemake),
    )
    print(f"wrote {path}")
