# Provenance of a run (docs/provenance.md): row-level lineage, the run manifest, the living-review change
# report and a Workflow Run RO-Crate. The rules run after every data output; none of them changes the data.
from livertrials.provenance.lineage import workflow_files

PROVENANCE = config["provenance"]
HISTORY = "results/provenance/history"  # managed by provenance_changes, never a declared output (see the script)
CONFIGFILES = [str(p) for p in workflow.configfiles]


rule provenance_lineage:
    """results/provenance/lineage.parquet: harmonize edges + synthesis edges, down to the printed numbers."""
    input:
        harmonize=rules.merge_shards.output.lineage,
        synthesis=rules.synthesize.output.lineage,
    output:
        "results/provenance/lineage.parquet",
    log:
        "results/logs/provenance_lineage.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=corpus_mem_mb(1000, 1000),
        runtime=5,
    script:
        "../../scripts/provenance_lineage.py"


rule provenance_manifest:
    """Run manifest: SHA-256 of every input and output, resolved config, versions, git state, start and end."""
    input:
        outputs=described_outputs,
        summary=rules.merge_shards.output.summary,
        inputs=run_inputs,
        configfiles=CONFIGFILES,
        workflow=workflow_files(Path(workflow.basedir)),
    output:
        "results/provenance/manifest.json",
    log:
        "results/logs/provenance_manifest.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        history=HISTORY,
        configfiles=CONFIGFILES,
    script:
        "../../scripts/provenance_manifest.py"


rule provenance_changes:
    """Living review: which inputs changed since the previous run and which pooled estimates moved."""
    input:
        manifest=rules.provenance_manifest.output[0],
        pooled=rules.synthesize.output.pooled,
    output:
        md="results/provenance/changes.md",
        json="results/provenance/changes.json",
    log:
        "results/logs/provenance_changes.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        history=HISTORY,
        keep=PROVENANCE["history_keep"],
        tolerance=PROVENANCE["change_tolerance"],
    script:
        "../../scripts/provenance_changes.py"


rule provenance_crate:
    """The run as a Workflow Run RO-Crate: workflow, inputs (with SHA-256), config as parameters, every output."""
    input:
        manifest=rules.provenance_manifest.output[0],
        changes_md=rules.provenance_changes.output.md,
        changes_json=rules.provenance_changes.output.json,
        outputs=described_outputs,
        inputs=run_inputs,
        configfiles=CONFIGFILES,
        workflow=workflow_files(Path(workflow.basedir)),
    output:
        directory("results/provenance/ro-crate"),
    log:
        "results/logs/provenance_crate.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        configfiles=CONFIGFILES,
    script:
        "../../scripts/provenance_crate.py"
