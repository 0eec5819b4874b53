"""Snakemake script: the run manifest (input and output SHA-256, config, versions, git, start and end)."""
from pathlib import Path

from livertrials.io.logs import log_to
from livertrials.lineage.run_info import workflow_root
from livertrials.provenance.changes import read_snapshot
from livertrials.provenance.manifest import run_manifest, write_json

with log_to(snakemake.log[0]):
    previous, _ = read_snapshot(Path(snakemake.params.history))
    manifest = run_manifest(
        snakemake.config,
        [Path(p) for p in snakemake.input.outputs],
        [Path(p) for p in snakemake.params.configfiles],
        [Path(p) for p in snakemake.input.workflow],
        previous,
        Path(snakemake.input.summary),
        root=workflow_root(snakemake),
    )
    write_json(Path(snakemake.output[0]), manifest)
    print(f"run {manifest['run']['start']} -> {manifest['run']['end']}: {len(manifest['inputs'])} inputs, "
          f"{len(manifest['outputs'])} outputs")
