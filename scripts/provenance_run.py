"""Snakemake script: the run manifest, the change report since the previous run and the RO-Crate of the run."""
from pathlib import Path

from livertrials.io.logs import log_to
from livertrials.lineage.run_info import workflow_root
from livertrials.provenance.run_record import record_run

with log_to(snakemake.log[0]):
    record_run(
        snakemake.config,
        outputs=[Path(p) for p in snakemake.input.outputs],
        inputs=[Path(p) for p in snakemake.input.inputs],
        configfiles=[Path(p) for p in snakemake.params.configfiles],
        workflow_files=[Path(p) for p in snakemake.input.workflow],
        summary=Path(snakemake.input.summary),
        pooled=Path(snakemake.input.pooled),
        history=Path(snakemake.params.history),
        keep=int(snakemake.params.keep),
        tolerance=float(snakemake.params.tolerance),
        written={name: Path(snakemake.output[name]) for name in ("manifest", "changes_md", "changes_json", "crate")},
        root=workflow_root(snakemake),
    )
